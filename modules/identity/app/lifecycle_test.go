package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// The lifecycle's use cases over the fakes: sessions, a password change, a reset, a
// deletion, and rehashing.

var (
	sessionPolicy = domain.SessionPolicy{IdleTimeout: time.Hour, MaxAge: 24 * time.Hour, PerAccount: 3}
	resetPolicy   = domain.ResetPolicy{TTL: 15 * time.Minute, ResendInterval: time.Minute, MaxAttempts: 5,
		GuessesPerDay: 20, ResetsPerDay: 5, ClientGuessesPerDay: 3, ClientCodesPerDay: 100}
)

// newLifecycle is the use cases with sessions and resets over fakes, and an active
// account of email with password pw.
func newLifecycle(t *testing.T, email string) (edge, *fakeStore, *fakeHasher, domain.Account) {
	t.Helper()
	store, hasher := newFakeStore(), &fakeHasher{}
	p := policy
	p.ClientGuessesPerDay = resetPolicy.ClientGuessesPerDay
	svc := newEdge(t, store, hasher, p, WithSessions(store, sessionPolicy), WithPasswordReset(resetPolicy))
	ctx := context.Background()
	if _, err := svc.Register(ctx, email, "the owner's passphrase"); err != nil {
		t.Fatal(err)
	}
	who, err := svc.Authenticate(ctx, email, "the owner's passphrase")
	if err != nil {
		t.Fatal(err)
	}
	acc, err := svc.Activate(ctx, who, store.lastCode(t, domain.Email(email)))
	if err != nil {
		t.Fatal(err)
	}
	return svc, store, hasher, acc
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	svc, _, hasher, acc := newLifecycle(t, "sam@example.com")
	started, err := svc.SignIn(ctx, acc)
	if err != nil || len(started.Token) != tokenLength || started.Account.ID != acc.ID || !started.ExpiresAt.After(time.Time{}) {
		t.Fatalf("SignIn = %+v, %v", started, err)
	}
	verified := len(hasher.verified)
	sess, got, err := svc.AuthenticateToken(ctx, started.Token)
	if err != nil || got.ID != acc.ID || sess.AccountID != acc.ID {
		t.Fatalf("AuthenticateToken = %+v, %+v, %v", sess, got, err)
	}
	if len(hasher.verified) != verified {
		t.Error("a token cost a password verification")
	}
	for _, bad := range []string{"", "short", started.Token[:42] + "!", started.Token[1:] + "A"} {
		if _, _, err := svc.AuthenticateToken(ctx, bad); !errors.Is(err, domain.ErrInvalidToken) {
			t.Errorf("AuthenticateToken(%q) = %v, want ErrInvalidToken", bad, err)
		}
	}
	if err := svc.SignOut(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.AuthenticateToken(ctx, started.Token); !errors.Is(err, domain.ErrInvalidToken) {
		t.Errorf("a signed-out token: %v", err)
	}
	var tokens []string
	for range 2 {
		s, err := svc.SignIn(ctx, acc)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, s.Token)
	}
	if err := svc.SignOutEverywhere(ctx, acc); err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		if _, _, err := svc.AuthenticateToken(ctx, tok); !errors.Is(err, domain.ErrInvalidToken) {
			t.Errorf("a token after signing out everywhere: %v", err)
		}
	}
	// A pending account signs in to nothing; stale credentials (a password changed
	// since they were checked) start no session.
	stale := acc
	stale.PasswordHash = "hash:an older password"
	if _, err := svc.SignIn(ctx, stale); !errors.Is(err, domain.ErrUnauthorized) {
		t.Errorf("SignIn with stale credentials: %v, want ErrUnauthorized", err)
	}
	if _, err := svc.Register(ctx, "pending@example.com", "a pending passphrase"); err != nil {
		t.Fatal(err)
	}
	pending, err := svc.Authenticate(ctx, "pending@example.com", "a pending passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SignIn(ctx, pending); !errors.Is(err, domain.ErrAccountPending) {
		t.Errorf("SignIn of a pending account: %v, want ErrAccountPending", err)
	}
}

func TestChangePassword(t *testing.T) {
	ctx := WithClient(context.Background(), "198.51.100.1")
	svc, store, hasher, acc := newLifecycle(t, "cora@example.com")
	s, err := svc.SignIn(ctx, acc)
	if err != nil {
		t.Fatal(err)
	}
	var verr *domain.ValidationError
	if err := svc.ChangePassword(ctx, acc, "short"); !errors.As(err, &verr) {
		t.Fatalf("a short password: %v, want a ValidationError", err)
	}
	hashes := hasher.hashes()
	if err := svc.ChangePassword(ctx, acc, "a new passphrase for cora"); err != nil {
		t.Fatal(err)
	}
	if hasher.hashes() != hashes+1 {
		t.Errorf("a password change made %d hashes, want 1", hasher.hashes()-hashes)
	}
	if _, _, err := svc.AuthenticateToken(ctx, s.Token); !errors.Is(err, domain.ErrInvalidToken) {
		t.Errorf("a session after a password change: %v", err)
	}
	if _, err := svc.Authenticate(ctx, "cora@example.com", "the owner's passphrase"); !errors.Is(err, domain.ErrUnauthorized) {
		t.Errorf("the old password: %v", err)
	}
	if _, err := svc.Authenticate(ctx, "cora@example.com", "a new passphrase for cora"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if n := len(store.emails); store.emails[n-1].to != "cora@example.com" || store.emails[n-1].code != "" {
		t.Errorf("the last email %+v, want the notice to cora", store.emails[n-1])
	}
	// Stale credentials change nothing; a pending account's change is refused after its
	// password is judged, before a hash.
	if err := svc.ChangePassword(ctx, acc, "yet another passphrase"); !errors.Is(err, domain.ErrUnauthorized) {
		t.Errorf("a change with stale credentials: %v, want ErrUnauthorized", err)
	}
	if _, err := svc.Register(ctx, "early@example.com", "an early passphrase"); err != nil {
		t.Fatal(err)
	}
	pending, _ := svc.Authenticate(ctx, "early@example.com", "an early passphrase")
	hashes = hasher.hashes()
	if err := svc.ChangePassword(ctx, pending, "short"); !errors.As(err, &verr) {
		t.Errorf("a bad password of a pending account: %v, want a ValidationError first", err)
	}
	if err := svc.ChangePassword(ctx, pending, "a fine passphrase"); !errors.Is(err, domain.ErrAccountPending) {
		t.Errorf("a pending account's change: %v, want ErrAccountPending", err)
	}
	if hasher.hashes() != hashes {
		t.Error("a refused change cost a hash")
	}
}

func TestPasswordReset(t *testing.T) {
	owner := WithClient(context.Background(), "198.51.100.2")
	svc, store, hasher, acc := newLifecycle(t, "rita@example.com")
	if err := svc.RequestReset(owner, "nobody@example.com"); err != nil {
		t.Fatalf("an unknown email: %v", err)
	}
	if err := svc.RequestReset(owner, "Rita@Example.com"); err != nil {
		t.Fatal(err)
	}
	code := store.lastCode(t, acc.Email)
	if len(code) != domain.ResetCodeLength {
		t.Fatalf("emailed %q, want a reset code", code)
	}
	if err := svc.RequestReset(owner, "rita@example.com"); err != nil {
		t.Fatal(err)
	}
	if store.lastCode(t, acc.Email) != code {
		t.Error("a second request inside the resend interval sent a new code")
	}
	hashes := hasher.hashes()
	if err := svc.ConfirmReset(owner, "rita@example.com", wrongReset(code), "a reset passphrase"); !errors.Is(err, domain.ErrInvalidResetCode) {
		t.Fatalf("a wrong code: %v", err)
	}
	if err := svc.ConfirmReset(owner, "nobody@example.com", code, "a reset passphrase"); !errors.Is(err, domain.ErrInvalidResetCode) {
		t.Fatalf("an unknown email: %v", err)
	}
	if hasher.hashes() != hashes {
		t.Errorf("wrong codes cost %d hashes, want none", hasher.hashes()-hashes)
	}
	if err := svc.ConfirmReset(owner, "rita@example.com", code, "a reset passphrase"); err != nil {
		t.Fatalf("the right code: %v", err)
	}
	if hasher.hashes() != hashes+1 {
		t.Errorf("a confirmed reset made %d hashes, want 1", hasher.hashes()-hashes)
	}
	if _, err := svc.Authenticate(owner, "rita@example.com", "a reset passphrase"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if err := svc.ConfirmReset(owner, "rita@example.com", code, "again a passphrase"); !errors.Is(err, domain.ErrInvalidResetCode) {
		t.Errorf("a used code: %v", err)
	}
	// Past the client's guesses (3: two wrong above, one used code), refused, and no hash.
	hashes = hasher.hashes()
	var retry *domain.RetryLaterError
	if err := svc.ConfirmReset(owner, "rita@example.com", code, "again a passphrase"); !asRetry(err, &retry, domain.ReasonClientGuessBudget) {
		t.Errorf("past the client's guesses: %v", err)
	}
	if hasher.hashes() != hashes {
		t.Error("a confirmation past the budget cost a hash")
	}
	// A pending account's request leaves its activation code as it was.
	if _, err := svc.Register(owner, "pat@example.com", "pat's passphrase"); err != nil {
		t.Fatal(err)
	}
	before, _ := store.AccountByEmail(owner, "pat@example.com")
	if err := svc.RequestReset(WithClient(context.Background(), "203.0.113.9"), "pat@example.com"); err != nil {
		t.Fatal(err)
	}
	after, _ := store.AccountByEmail(owner, "pat@example.com")
	if after.Code == nil || *after.Code != *before.Code || after.Reset != nil {
		t.Errorf("a reset request changed a pending account's codes: %+v → %+v", before.Code, after.Code)
	}
}

func TestDeleteAccount(t *testing.T) {
	ctx := context.Background()
	svc, store, _, acc := newLifecycle(t, "dora@example.com")
	s, err := svc.SignIn(ctx, acc)
	if err != nil {
		t.Fatal(err)
	}
	stale := acc
	stale.PasswordHash = "hash:an older password"
	if err := svc.DeleteAccount(ctx, stale); !errors.Is(err, domain.ErrUnauthorized) {
		t.Errorf("a deletion with stale credentials: %v, want ErrUnauthorized", err)
	}
	if err := svc.DeleteAccount(ctx, acc); err != nil {
		t.Fatal(err)
	}
	if _, err := store.AccountByID(ctx, acc.ID); !errors.Is(err, domain.ErrAccountNotFound) {
		t.Errorf("the deleted account: %v", err)
	}
	if _, _, err := svc.AuthenticateToken(ctx, s.Token); !errors.Is(err, domain.ErrInvalidToken) {
		t.Errorf("a session of the deleted account: %v", err)
	}
	if _, err := svc.Account(ctx, acc.ID); !errors.Is(err, domain.ErrAccountNotFound) {
		t.Errorf("Account of the deleted account: %v", err)
	}
	if err := svc.DeleteAccount(ctx, acc); !errors.Is(err, domain.ErrAccountNotFound) {
		t.Errorf("a second deletion: %v, want ErrAccountNotFound (a 401)", err)
	}
}

func TestARightPasswordIsRehashed(t *testing.T) {
	ctx := context.Background()
	svc, store, hasher, acc := newLifecycle(t, "ross@example.com")
	hasher.params = "hash-v2"
	if _, err := svc.Authenticate(ctx, "ross@example.com", "a wrong passphrase"); !errors.Is(err, domain.ErrUnauthorized) {
		t.Fatal(err)
	}
	if got, _ := store.AccountByID(ctx, acc.ID); got.PasswordHash != acc.PasswordHash {
		t.Errorf("a wrong password rehashed: %q", got.PasswordHash)
	}
	who, err := svc.Authenticate(ctx, "ross@example.com", "the owner's passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if who.PasswordHash != "hash-v2:the owner's passphrase" {
		t.Errorf("the authenticated account's hash %q, want the new parameters'", who.PasswordHash)
	}
	if got, _ := store.AccountByID(ctx, acc.ID); got.PasswordHash != who.PasswordHash {
		t.Errorf("stored hash %q, want %q", got.PasswordHash, who.PasswordHash)
	}
	// What the request goes on to do works with the account it got.
	if _, err := svc.SignIn(ctx, who); err != nil {
		t.Errorf("SignIn after a rehash: %v", err)
	}
	// Once rehashed, a right password costs one verification and no hash.
	hashes := hasher.hashes()
	if _, err := svc.Authenticate(ctx, "ross@example.com", "the owner's passphrase"); err != nil {
		t.Fatal(err)
	}
	if hasher.hashes() != hashes {
		t.Errorf("%d hashes for a password already rehashed", hasher.hashes()-hashes)
	}
}

// wrongReset is a reset code that is not code.
func wrongReset(code string) string {
	if code == "00000000" {
		return "11111111"
	}
	return "00000000"
}

func TestSessionsAndEndOne(t *testing.T) {
	ctx := WithOrigin(context.Background(), Origin{Client: "198.51.100.80", UserAgent: "app-test/1"})
	svc, _, _, acc := newLifecycle(t, "sid@example.com")
	first, err := svc.SignIn(ctx, acc)
	if err != nil {
		t.Fatal(err)
	}
	second, err := svc.SignIn(ctx, acc)
	if err != nil {
		t.Fatal(err)
	}
	list, err := svc.Sessions(ctx, acc)
	if err != nil || len(list) != 2 || list[0].Client != "198.51.100.80" || list[0].UserAgent != "app-test/1" {
		t.Fatalf("Sessions = %+v, %v", list, err)
	}
	firstSession, _, err := svc.AuthenticateToken(ctx, first.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.EndSession(ctx, acc, "no-such-session"); !errors.Is(err, domain.ErrSessionNotFound) {
		t.Errorf("ending an unknown session: %v, want ErrSessionNotFound", err)
	}
	if err := svc.EndSession(ctx, acc, firstSession.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.AuthenticateToken(ctx, first.Token); !errors.Is(err, domain.ErrInvalidToken) {
		t.Errorf("an ended session: %v", err)
	}
	if _, _, err := svc.AuthenticateToken(ctx, second.Token); err != nil {
		t.Errorf("the other session: %v", err)
	}
	if err := svc.SignOut(ctx, firstSession); err != nil {
		t.Errorf("signing out a session that has ended: %v, want nil (idempotent)", err)
	}
}

func TestEventsPages(t *testing.T) {
	ctx := context.Background()
	svc, _, _, acc := newLifecycle(t, "pages@example.com")
	for range 3 {
		if _, err := svc.SignIn(ctx, acc); err != nil {
			t.Fatal(err)
		}
	}
	all, next, err := svc.Events(ctx, acc, "", 0)
	if err != nil || next != "" || len(all) != 5 || all[0].Type != domain.EventSignedIn || all[4].Type != domain.EventRegistered {
		t.Fatalf("Events = %d events %+v, next %q, %v", len(all), all, next, err)
	}
	page, next, err := svc.Events(ctx, acc, "", 2)
	if err != nil || len(page) != 2 || next != page[1].ID {
		t.Fatalf("first page %+v, next %q, %v", page, next, err)
	}
	page, next, err = svc.Events(ctx, acc, next, 2)
	if err != nil || len(page) != 2 || page[0].ID != all[2].ID || next == "" {
		t.Fatalf("second page %+v, next %q, %v", page, next, err)
	}
	page, next, err = svc.Events(ctx, acc, next, 2)
	if err != nil || len(page) != 1 || page[0].ID != all[4].ID || next != "" {
		t.Fatalf("last page %+v, next %q, %v", page, next, err)
	}
}
