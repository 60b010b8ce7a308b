// Package domain holds the rules of the identity context: what a valid email and password
// are, how an activation code is drawn, checked and expires, and how an account moves from
// pending to active. It does no I/O and reads no clock: the current time is passed in, read
// from the database so that every replica agrees.
package domain
