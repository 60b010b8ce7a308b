package mail

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/mail/smtptest"
)

// TestFailureClassOfRealFailures sorts the errors of real sends to a real SMTP server.
func TestFailureClassOfRealFailures(t *testing.T) {
	reject := func(code int) *smtptest.Server {
		srv := smtptest.Start(t, smtptest.Options{})
		srv.OnData(func([]string) error {
			return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: "no"}
		})
		return srv
	}
	hang := smtptest.Start(t, smtptest.Options{})
	hang.OnData(func([]string) error { <-hang.Released(); return nil })
	down, err := NewSMTPTransport(config.SMTP{Host: "127.0.0.1", Port: 1, TLS: "none", MaxConnections: 1}, "a@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		tr   *SMTPTransport
		ctx  time.Duration
		want string
	}{
		{"554 at DATA", transportTo(t, reject(554), "none", "", ""), time.Second, FailureRejectedPermanent},
		{"451 at DATA", transportTo(t, reject(451), "none", "", ""), time.Second, FailureRejectedTemporary},
		{"nothing listens", down, time.Second, FailureConnection},
		{"the server hangs", transportTo(t, hang, "none", "", ""), 200 * time.Millisecond, FailureTimeout},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), tc.ctx)
		err := tc.tr.Send(ctx, testMessage)
		cancel()
		if got := FailureClass(err); got != tc.want {
			t.Errorf("%s: class %q of %v, want %q", tc.name, got, err, tc.want)
		}
	}
}
