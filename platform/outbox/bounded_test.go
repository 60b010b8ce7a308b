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

// TestDispatcherQueriesAreBounded: the dispatcher's queries wait at most QueryTimeout. Its
// connection is severed while a claim waits on it (the host vanished: nothing ever
// answers); it gives up on it, and sends the next email on a new connection. Without the
// bound the claim would wait on the dead connection for the OS's TCP timeout.
func TestDispatcherQueriesAreBounded(t *testing.T) {
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
	sender := &fakeSender{}
	ob := New()
	d := NewDispatcher(pool, ob, sender, opts, testLogger(t))

	run(t, d)
	enqueue(t, direct, New(), "alice@example.com", nil)
	poll.Until(t, 5*time.Second, "the first email is sent", func() bool { return sender.sentTo("alice@example.com") == 1 })

	// The next claim goes out on the pooled connection, and never comes back.
	proxy.Blackhole()
	proxy.WaitHeld(t, 1, 5*time.Second)
	proxy.Sever()
	proxy.Heal()

	enqueue(t, direct, New(), "bob@example.com", nil)
	poll.Until(t, 5*time.Second, "the second email is sent on a new connection", func() bool {
		return sender.sentTo("bob@example.com") == 1
	})
}
