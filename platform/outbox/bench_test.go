package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/mail/smtptest"
)

// BenchmarkDeliveryOverLatency measures the emails per second one replica sends through
// the production SMTP transport to an SMTP server whose every reply takes one round trip
// (smtptest ReplyDelay). Each iteration is one email, queued before the clock starts:
//
//	go test -run '^$' -bench DeliveryOverLatency -benchtime 300x ./platform/outbox/
func BenchmarkDeliveryOverLatency(b *testing.B) {
	for _, rtt := range []time.Duration{0, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond} {
		b.Run(fmt.Sprintf("rtt=%v", rtt), func(b *testing.B) {
			// The production pool (DATABASE_MAX_CONNS): the workers' records compete with
			// River's fetches for its connections as in the service.
			pool, err := database.Open(context.Background(), dbtest.NewURL(b), database.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(pool.Close)
			srv := smtptest.Start(b, smtptest.Options{ReplyDelay: rtt})
			var sender *mail.SMTPTransport
			sender, err = mail.NewSMTPTransport(config.SMTP{Host: srv.Host, Port: srv.Port, TLS: "none"}, "Identity <no-reply@example.com>", nil)
			if err != nil {
				b.Fatal(err)
			}
			r := newReplica(b, pool, sender, Options{}, jobs.Options{}, slog.New(slog.DiscardHandler))
			ctx := context.Background()
			emails := make([]Email, b.N)
			for i := range emails {
				emails[i] = Email{Message: mail.Message{To: fmt.Sprintf("bench%05d@example.com", i), Subject: "s", Text: "t", HTML: "h"}}
			}
			if err := database.InTx(ctx, pool, func(tx pgx.Tx) error { return r.ob.Queue(ctx, tx, emails...) }); err != nil {
				b.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			b.ResetTimer()
			begin := time.Now()
			go func() { done <- r.jobs.Run(runCtx) }()
			for len(srv.Received()) < b.N {
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(begin)
			b.StopTimer()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "emails/s")
			_, most := srv.OpenConnections()
			b.ReportMetric(float64(srv.Connections()), "connections")
			b.ReportMetric(float64(most), "max-open")
		})
	}
}
