package httpserver

import (
	"context"
	"sync"
	"time"
)

const (
	// ReadyEvery is how often /readyz runs its check at most: probes in between get the
	// last answer, so a flood of /readyz costs the database one ping a second per replica.
	ReadyEvery = time.Second
	// readyTimeout bounds one check.
	readyTimeout = 2 * time.Second
)

// readiness runs check at most once per every; callers in between share its last
// result, and callers that arrive during a check wait for it.
type readiness struct {
	check func(context.Context) error
	every time.Duration
	now   func() time.Time

	mu  sync.Mutex
	at  time.Time // of the last check; zero: none yet
	err error
}

func (r *readiness) ready(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && r.now().Sub(r.at) < r.every {
		return r.err
	}
	// Not the caller's context: a probe that gives up must not leave its cancellation
	// as the answer of the next second.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	r.err = r.check(ctx)
	r.at = r.now()
	return r.err
}
