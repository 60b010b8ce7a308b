// Package architecture enforces the dependency rules of docs/architecture.md on the
// import graph: Check is a pure function from packages and their imports to violations,
// Load reads that graph from `go list`, and the package's test runs both over this
// repository (and over a deliberately bad fixture module, to prove each rule fires).
//
// It imports no module and nothing of the service: it only reads import paths.
package architecture
