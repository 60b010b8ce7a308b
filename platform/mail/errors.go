package mail

import (
	"errors"
	"fmt"
)

// RejectedError is a permanent refusal of one email by the SMTP server: a 5xx reply to
// MAIL, RCPT, DATA or the message's data. Sending the same email again would be refused
// again, so the caller gives up on it. Every other error of Send is temporary: a 4xx
// reply, a timeout, a broken connection, or a failure of the session itself (TLS, AUTH,
// a protocol error) that is no fault of the email.
type RejectedError struct {
	// Command is what the server refused: "MAIL", "RCPT", "DATA" or "data".
	Command string
	// Code and Reply are the server's answer, e.g. 550 and "5.1.1 mailbox unavailable".
	Code  int
	Reply string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("SMTP server rejected the email at %s: %d %s", e.Command, e.Code, e.Reply)
}

// IsRejected reports whether err is a permanent rejection of the email (*RejectedError).
func IsRejected(err error) bool {
	var r *RejectedError
	return errors.As(err, &r)
}

// sessionCode reports whether a 5xx reply is about the session, not the email: the
// protocol (500 unrecognised, 502 not implemented, 503 bad sequence, 504 parameter not
// implemented) or authentication (530 required, 534 mechanism too weak, 535 credentials
// invalid, 538 encryption required). Those are an operator's or a client's mistake, and
// the same email succeeds once they are fixed.
func sessionCode(code int) bool {
	switch code {
	case 500, 502, 503, 504, 530, 534, 535, 538:
		return true
	}
	return false
}
