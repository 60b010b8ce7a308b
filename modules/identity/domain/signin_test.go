package domain

import (
	"testing"
	"time"
)

func TestSignInWaitSchedule(t *testing.T) {
	const free = 10
	fails := func(client string, at ...time.Time) []Failure {
		var out []Failure
		for i := len(at) - 1; i >= 0; i-- { // newest first
			out = append(out, Failure{Client: client, At: at[i], Checked: true})
		}
		return out
	}
	nine := make([]time.Time, 9)
	for i := range nine {
		nine[i] = t0.Add(time.Duration(i) * time.Second)
	}
	h := SignInHistory{Client: "stranger", Failures: fails("stranger", nine...)}
	if w := h.Wait(t0.Add(9*time.Second), free); w > 0 {
		t.Fatalf("after 9 failures: wait %v, want none", w)
	}
	h.Failures = append([]Failure{{Client: "other", At: t0.Add(9 * time.Second), Checked: true}}, h.Failures...)
	if w := h.Wait(t0.Add(9*time.Second), free); w != time.Second {
		t.Fatalf("after 10 failures (one by another client): wait %v, want 1 s", w)
	}
	h.Failures = append([]Failure{{Client: "stranger", At: t0.Add(20 * time.Second), Checked: true}}, h.Failures...)
	if w := h.Wait(t0.Add(20*time.Second), free); w != 2*time.Second {
		t.Fatalf("after 11 failures: wait %v, want 2 s", w)
	}
	// The owner's known client counts only its own failures.
	owner := SignInHistory{Client: "owner", Failures: h.Failures, Known: true}
	if w := owner.Wait(t0.Add(20*time.Second), free); w > 0 {
		t.Fatalf("a known client during a stranger's attack: wait %v, want none", w)
	}
	// A client that is not known is a stranger, even one that failed nothing itself.
	fresh := SignInHistory{Client: "new phone", Failures: h.Failures}
	if w := fresh.Wait(t0.Add(20*time.Second), free); w != 2*time.Second {
		t.Fatalf("an unknown client during a stranger's attack: wait %v, want 2 s", w)
	}
	// Failures older than the window count for nothing.
	if w := h.Wait(t0.Add(FailureWindow+time.Minute), free); w > 0 {
		t.Fatalf("a week later: wait %v, want none", w)
	}
}

// TestStrangersGetAtMostMaxFailuresInAnyWindow plays the fastest stranger for 30 days:
// every attempt the moment its wait ends, each a wrong password. In no window of
// FailureWindow does it get more than MaxFailures.
func TestStrangersGetAtMostMaxFailuresInAnyWindow(t *testing.T) {
	for _, free := range []int{1, 10, 100} {
		var h SignInHistory
		h.Client = "stranger"
		var all []time.Time
		now := t0
		for now.Before(t0.Add(30 * 24 * time.Hour)) {
			if w := h.Wait(now, free); w > 0 {
				now = now.Add(w)
				continue
			}
			all = append(all, now)
			h.Failures = append([]Failure{{Client: "stranger", At: now, Checked: true}}, h.Failures...)
			now = now.Add(time.Millisecond)
		}
		most := 0
		for i := range all {
			n := 0
			for j := i; j < len(all) && all[j].Sub(all[i]) < FailureWindow; j++ {
				n++
			}
			most = max(most, n)
		}
		if most > MaxFailures {
			t.Errorf("with %d free failures: %d wrong passwords in one window, want at most %d", free, most, MaxFailures)
		}
		if most < MaxFailures {
			t.Errorf("with %d free failures: only %d wrong passwords in the busiest window; the bound should be reached", free, most)
		}
		t.Logf("with %d free failures: %d failures in 30 days, at most %d in any 7 days", free, len(all), most)
	}
}

func TestAttemptsUnderWayCount(t *testing.T) {
	var h SignInHistory
	h.Client = "stranger"
	for i := range 3 { // three attempts under way at once, newest first
		h.Failures = append([]Failure{{Client: "stranger", At: t0.Add(time.Duration(i) * time.Millisecond)}}, h.Failures...)
	}
	if w := h.Wait(t0.Add(time.Millisecond), 3); w <= 0 {
		t.Fatal("three attempts under way do not count against a fourth")
	}
	if w := h.Wait(t0.Add(AttemptWindow), 3); w > 0 {
		t.Fatalf("attempts never settled still count after %v: wait %v", AttemptWindow, w)
	}
	// The owner's known client is not delayed by its own attempts under way.
	h.Known, h.Client = true, "stranger"
	if w := h.Wait(t0.Add(time.Millisecond), 3); w > 0 {
		t.Fatalf("a known client waits %v for its own attempts under way", w)
	}
}
