package domain

import "time"

// Password guessing (the contract's "Password guessing"): every Basic attempt for an
// email (known or not) first asks SignInHistory.Wait, on the history the store keeps of
// the email's wrong passwords and of the clients that signed in to it.
const (
	// FailureWindow is how long a wrong password counts.
	FailureWindow = 7 * 24 * time.Hour
	// KnownClientWindow is how long a client that signed in stays exempt from other
	// clients' failures.
	KnownClientWindow = 30 * 24 * time.Hour
	// MaxFailures is the most wrong passwords strangers get per email in any
	// FailureWindow: past it, every attempt waits until the oldest counted one leaves.
	MaxFailures = 100
	// AttemptWindow is how long an attempt whose password is being checked counts before
	// its outcome is known: longer than any request (the hashing queue's and the
	// database's timeouts), so concurrent attempts count, and an attempt the database
	// failed to settle stops counting soon.
	AttemptWindow = 30 * time.Second
	// firstDelay is the delay after FailuresBeforeDelay failures; it doubles with each
	// further failure up to maxDelay.
	firstDelay = time.Second
	maxDelay   = time.Hour
)

// Failure is one wrong password for an email, or (Checked false) an attempt whose
// password is being checked.
type Failure struct {
	Client  string
	At      time.Time
	Checked bool
}

// SignInHistory is what the store knows of one email when a client tries its password:
// the wrong passwords of the last FailureWindow (newest first, a success ends the
// failures of the client that sent it) and whether this client signed in to the account
// in the last KnownClientWindow.
type SignInHistory struct {
	Client   string
	Failures []Failure
	Known    bool
}

// Wait is how long the client must wait before its password is checked (zero or less:
// now), with failuresBeforeDelay free failures. A known client counts only its own
// failures, so a stranger cannot lock the owner out; any other client counts every
// failure of the email, so that many clients (a /48 of IPv6) are one stranger:
//
//   - fewer than failuresBeforeDelay failures: no wait;
//   - from then on: firstDelay after the newest failure, doubling with each further
//     failure, at most maxDelay;
//   - MaxFailures within FailureWindow: until the oldest of them leaves the window.
//
// So strangers get at most MaxFailures wrong passwords per email in any FailureWindow
// (docs/decisions.md has the arithmetic).
func (h SignInHistory) Wait(now time.Time, failuresBeforeDelay int) time.Duration {
	// An attempt under way counts, so that concurrent attempts cannot all pass one
	// check, but not for a known client (the owner is not racing itself) and not past
	// AttemptWindow (the database failed to settle it).
	var counted []Failure
	for _, f := range h.Failures {
		switch {
		case h.Known && (f.Client != h.Client || !f.Checked):
		case !f.Checked && now.Sub(f.At) >= AttemptWindow:
		default:
			counted = append(counted, f)
		}
	}
	n := 0
	for _, f := range counted {
		if now.Sub(f.At) < FailureWindow {
			n++
		}
	}
	if n >= MaxFailures {
		return counted[MaxFailures-1].At.Add(FailureWindow).Sub(now)
	}
	if n < failuresBeforeDelay {
		return 0
	}
	delay := maxDelay
	if shift := n - failuresBeforeDelay; shift < 12 {
		delay = min(firstDelay<<shift, maxDelay)
	}
	return counted[0].At.Add(delay).Sub(now)
}

// SignInPolicy sets the sign-in delay (PASSWORD_FAILURES_BEFORE_DELAY).
type SignInPolicy struct {
	// FailuresBeforeDelay is how many consecutive wrong passwords an email takes before
	// attempts wait.
	FailuresBeforeDelay int
}

// Check refuses an attempt that must wait (Wait) with a *RetryLaterError of
// ReasonSignInDelay; its password is then not checked.
func (h SignInHistory) Check(now time.Time, p SignInPolicy) error {
	if wait := h.Wait(now, p.FailuresBeforeDelay); wait > 0 {
		return retryLater(ReasonSignInDelay, wait, p.FailuresBeforeDelay)
	}
	return nil
}

// KnownClient is a client known to an account: it signed in with the right password at
// SignedInAt, within KnownClientWindow.
type KnownClient struct {
	Client     string
	SignedInAt time.Time
}
