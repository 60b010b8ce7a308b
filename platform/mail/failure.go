package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
)

// Failure classes of a send, a small fixed set for metrics labels and logs.
const (
	// FailureTimeout: the server did not answer in time.
	FailureTimeout = "timeout"
	// FailureConnection: no connection, a broken one, or a failed TLS handshake.
	FailureConnection = "connection"
	// FailureRejectedTemporary: the server refused with a 4xx reply (try again later).
	FailureRejectedTemporary = "rejected_temporary"
	// FailureRejectedPermanent: the server refused with a 5xx reply (the message or a
	// recipient will never be accepted).
	FailureRejectedPermanent = "rejected_permanent"
	// FailureOther: anything else (AUTH, a message go-mail could not build, ...).
	FailureOther = "other"
)

// FailureClasses lists every class FailureClass returns.
var FailureClasses = []string{
	FailureTimeout, FailureConnection, FailureRejectedTemporary, FailureRejectedPermanent, FailureOther,
}

// FailureClass sorts the error of a send into one of FailureClasses. Only a
// *RejectedError is permanent: a 5xx about the session (AUTH, protocol) is "other".
func FailureClass(err error) string {
	var (
		netErr  net.Error
		tlsErr  *tls.CertificateVerificationError
		x509Err x509.UnknownAuthorityError
		recErr  tls.RecordHeaderError
		opErr   *net.OpError
		reply   *textproto.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return FailureTimeout
	case IsRejected(err):
		return FailureRejectedPermanent
	case errors.As(err, &reply) && reply.Code >= 400 && reply.Code < 500:
		return FailureRejectedTemporary
	case errors.As(err, &opErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &tlsErr), errors.As(err, &x509Err), errors.As(err, &recErr):
		return FailureConnection
	}
	return FailureOther
}
