package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"time"
)

// RoundTrips counts the SQL round trips of the service: a registration and a full flow
// run one at a time through PGProxy, the emails they cause delivered (so the outbox
// dispatcher's statements count too).
type RoundTrips struct {
	N               int
	PerRegistration float64
	PerFlow         float64
	// Statements are executions per registration and per flow, by statement.
	Registration, Flow []StatementCount
}

// StatementCount is how often one statement ran per unit.
type StatementCount struct {
	Statement string
	PerUnit   float64
}

// CountRoundTrips starts a second server whose database connections go through a
// counting proxy and runs o.RoundTrips registrations, then as many full flows, one by one.
func CountRoundTrips(ctx context.Context, o Options, hash HashParams, bin string, db *Database, mailbox *Mailbox, runID string) (RoundTrips, error) {
	u, err := url.Parse(db.URL)
	if err != nil {
		return RoundTrips{}, fmt.Errorf("database URL: %w", err)
	}
	proxy, err := StartPGProxy(u.Host)
	if err != nil {
		return RoundTrips{}, err
	}
	defer proxy.Close()
	u.Host = proxy.Addr()
	srv, err := StartServer(ctx, ServerConfig{
		Bin: bin, DatabaseURL: u.String(), SMTPHost: mailbox.Host, SMTPPort: mailbox.Port, Hash: hash,
		LogPath: filepath.Join(o.Out, "logs", "server-"+hash.Name+"-roundtrips.log"), Env: o.ServerEnv,
	})
	if err != nil {
		return RoundTrips{}, err
	}
	defer func() { _ = srv.Stop() }()
	rn := &Runner{
		BaseURL: srv.BaseURL, Mailbox: mailbox, PID: srv.PID(), Hash: hash,
		Prefix: "b" + runID + "-" + hash.Name[:1] + "rt", EmailTimeout: 15 * time.Second,
	}
	// Let the server settle (first poll of the dispatcher, pool connections) and send or
	// drop what earlier steps left in the outbox: those emails are not these units' work.
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n, err := queryString(ctx, db.URL, "SELECT count(*)::text FROM platform.outbox_emails WHERE sent_at IS NULL AND dropped_at IS NULL")
		if err != nil {
			return RoundTrips{}, fmt.Errorf("outbox backlog: %w", err)
		}
		if n == "0" {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)

	measure := func(step string, one func(c *conn, n int)) (float64, []StatementCount, error) {
		c := &conn{rn: rn, client: newClient(1), rec: newRecorder(time.Now(), time.Now().Add(time.Hour)), step: step}
		trips0, stmts0 := proxy.Counts()
		for n := range o.RoundTrips {
			if ctx.Err() != nil {
				return 0, nil, ctx.Err()
			}
			one(c, n)
			// Wait for this unit's email, so its dispatch is counted with it.
			deadline := time.Now().Add(10 * time.Second)
			for mailbox.Pending(c.rec.addresses) > 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
		// The dispatcher marks an email sent just after the SMTP server accepted it.
		time.Sleep(200 * time.Millisecond)
		trips1, stmts1 := proxy.Counts()
		if bad := c.rec.unexpected; len(bad) > 0 || c.rec.transportErrors > 0 {
			return 0, nil, fmt.Errorf("round trips %s: unexpected responses %v, %d transport errors", step, bad, c.rec.transportErrors)
		}
		mailbox.Tally(c.rec.addresses, time.Time{}, time.Time{})
		n := float64(o.RoundTrips)
		var per []StatementCount
		for s, k := range stmts1 {
			if d := k - stmts0[s]; d > 0 {
				per = append(per, StatementCount{Statement: s, PerUnit: float64(d) / n})
			}
		}
		sort.Slice(per, func(i, j int) bool {
			if per[i].PerUnit != per[j].PerUnit {
				return per[i].PerUnit > per[j].PerUnit
			}
			return per[i].Statement < per[j].Statement
		})
		return float64(trips1-trips0) / n, per, nil
	}
	var rt RoundTrips
	rt.N = o.RoundTrips
	if rt.PerRegistration, rt.Registration, err = measure("rt-register", func(c *conn, n int) { c.register(ctx, n) }); err != nil {
		return rt, err
	}
	if rt.PerFlow, rt.Flow, err = measure("rt-flow", func(c *conn, n int) { c.flow(ctx, n) }); err != nil {
		return rt, err
	}
	return rt, nil
}
