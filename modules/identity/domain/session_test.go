package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSessionPolicy(t *testing.T) {
	p := SessionPolicy{IdleTimeout: 24 * time.Hour, MaxAge: 720 * time.Hour, PerAccount: 50}
	if got := p.TouchEvery(); got != time.Minute {
		t.Errorf("TouchEvery with a 24 h idle timeout = %s, want a minute", got)
	}
	if got := (SessionPolicy{IdleTimeout: 5 * time.Minute}).TouchEvery(); got != 30*time.Second {
		t.Errorf("TouchEvery with a 5 min idle timeout = %s, want a tenth of it", got)
	}
	signedIn := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if got := p.ExpiresAt(signedIn, signedIn); !got.Equal(signedIn.Add(24 * time.Hour)) {
		t.Errorf("a fresh session expires at %s, want after the idle timeout", got)
	}
	late := signedIn.Add(719 * time.Hour)
	if got := p.ExpiresAt(signedIn, late); !got.Equal(signedIn.Add(720 * time.Hour)) {
		t.Errorf("a session used near its maximum age expires at %s, want at the maximum age", got)
	}
}

func TestSessionsOfAnAccount(t *testing.T) {
	p := SessionPolicy{IdleTimeout: time.Hour, MaxAge: 2 * time.Hour, PerAccount: 3}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	pending := Account{ID: "a", Email: "a@example.com", Status: StatusPending}
	if _, err := pending.StartSession([]byte("h"), Device{}, now, p); !errors.Is(err, ErrAccountPending) {
		t.Fatalf("a pending account signed in: %v", err)
	}
	if err := pending.ChangePassword("new", now); !errors.Is(err, ErrAccountPending) || pending.PasswordHash == "new" {
		t.Fatalf("a pending account changed its password: %v", err)
	}
	active := Account{ID: "b", Email: "b@example.com", Status: StatusActive, PasswordHash: "old"}
	expires, err := active.StartSession([]byte("h"), Device{Client: "192.0.2.1", UserAgent: "ua"}, now, p)
	if err != nil || !expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("StartSession = %s, %v; want an hour from now", expires, err)
	}
	if err := active.ChangePassword("new", now); err != nil || active.PasswordHash != "new" {
		t.Fatalf("ChangePassword: %v, hash %q", err, active.PasswordHash)
	}
	events := active.Events()
	if len(events) != 2 {
		t.Fatalf("events %v, want SessionStarted then PasswordChanged", events)
	}
	if _, ok := events[0].(SessionStarted); !ok {
		t.Errorf("first event %T, want SessionStarted", events[0])
	}
	if e, ok := events[1].(PasswordChanged); !ok || e.Email != active.Email || !e.At.Equal(now) {
		t.Errorf("second event %#v, want PasswordChanged of %s at %s", events[1], active.Email, now)
	}
}

func TestASessionKeepsABoundedUserAgent(t *testing.T) {
	active := &Account{ID: "a", Status: StatusActive}
	long := strings.Repeat("é", MaxUserAgentLength+10) + "\x00\n"
	if _, err := active.StartSession([]byte("h"), Device{Client: "c", UserAgent: "Mozilla\x07/5.0 " + long}, time.Now(), SessionPolicy{IdleTimeout: time.Hour, MaxAge: time.Hour, PerAccount: 1}); err != nil {
		t.Fatal(err)
	}
	e, _ := active.Events()[0].(SessionStarted)
	if n := utf8.RuneCountInString(e.Device.UserAgent); n != MaxUserAgentLength || strings.ContainsAny(e.Device.UserAgent, "\x07\x00\n") ||
		!strings.HasPrefix(e.Device.UserAgent, "Mozilla/5.0 ") || e.Device.Client != "c" {
		t.Errorf("kept %q (%d characters)", e.Device.UserAgent, n)
	}
}
