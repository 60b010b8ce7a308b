// Package poll waits in tests for a condition that another goroutine or process makes
// true (an email delivered, a series scraped, a row written) when the code under test
// offers no signal to wait on. Prefer a signal (a channel, an injected clock) where there
// is one: a poll only bounds how long a test waits.
package poll

import (
	"testing"
	"time"
)

// Interval is how often Until checks its condition.
const Interval = 5 * time.Millisecond

// Until calls cond every Interval until it is true, and fails t (Fatalf, naming what)
// when timeout passes first.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(Interval)
	}
}
