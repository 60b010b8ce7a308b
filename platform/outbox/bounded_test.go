package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/poll"
)

// TestWorkerQueriesAreBounded: no query of the email path waits for ever. The pool's
// connections are severed while a fetch of jobs waits on one (the host vanished: nothing
// ever answers); River gives up on it after its own bound on a fetch (10 s,
// HotOperationTimeout), and the next email goes out on a new connection. Without a bound
// the fetch would wait on the dead connection for the OS's TCP timeout, and the queue with
// it. The outbox's own queries (load, record) are bounded by QueryTimeout.
func TestWorkerQueriesAreBounded(t *testing.T) {
	t.Parallel()
	target := dbtest.NewURL(t)
	proxy, viaProxy := dbtest.NewProxy(t, target)
	pool, err := database.Open(context.Background(), viaProxy, database.Options{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// pgx ends the severed connection with a read that only its 15 s deadline ends: do not
	// wait for it (the proxy's cleanup, after this one, resets it).
	t.Cleanup(func() { database.Close(pool, time.Second) })
	direct, err := pgxpool.New(context.Background(), target) // not through the proxy
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(direct.Close)

	opts := fastOptions
	opts.QueryTimeout = 300 * time.Millisecond
	opts.PollInterval = 50 * time.Millisecond
	jopts := fastJobs
	jopts.PollInterval = 50 * time.Millisecond
	sender := &fakeSender{}
	r := newReplica(t, pool, sender, opts, jopts, testLogger(t))
	other := newReplica(t, direct, &fakeSender{}, opts, jopts, testLogger(t)) // queues, not running

	run(t, r)
	enqueue(t, direct, other.ob, "alice@example.com", nil)
	poll.Until(t, 5*time.Second, "the first email is sent and recorded", func() bool { return rowOf(t, direct, "alice@example.com").Sent })

	// The next fetch goes out on a pooled connection, and never comes back.
	proxy.Blackhole()
	proxy.WaitHeld(t, 1, 5*time.Second)
	proxy.Sever()
	proxy.Heal()

	enqueue(t, direct, other.ob, "bob@example.com", nil)
	poll.Until(t, 15*time.Second, "the second email is sent on a new connection", func() bool {
		return sender.sentTo("bob@example.com") == 1
	})
}
