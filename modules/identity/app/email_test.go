package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// The email change over the fakes: the flow, the misses that answer alike, an address an
// active account holds, a pending holder replaced, and what a new password cancels.

var changePolicy = domain.EmailChangePolicy{TTL: 15 * time.Minute, MaxAttempts: 5, CodesPerDay: 10, GuessesPerDay: 20,
	ClientCodesPerDay: 100, ClientGuessesPerDay: 50}

func (e edge) RequestEmailChange(ctx context.Context, who domain.Account, raw string) error {
	to, msg := domain.ParseEmail(raw)
	if msg != "" {
		return invalid("email", msg)
	}
	return e.Service.RequestEmailChange(ctx, who, to)
}

func (e edge) ConfirmEmailChange(ctx context.Context, who domain.Account, current domain.Session, raw string) (domain.Account, error) {
	code, msg := domain.ParseEmailChangeCode(raw)
	if msg != "" {
		return domain.Account{}, invalid("code", msg)
	}
	return e.Service.ConfirmEmailChange(ctx, who, current, code)
}

// newMover is the use cases with sessions and email changes over fakes under p, and an
// active account of email with the password "the owner's passphrase".
func newMover(t *testing.T, email string, p domain.EmailChangePolicy) (edge, *fakeStore, domain.Account) {
	t.Helper()
	store, hasher := newFakeStore(), &fakeHasher{}
	svc := newEdge(t, store, hasher, policy, WithSessions(store, sessionPolicy), WithEmailChange(p))
	return svc, store, activeOn(t, svc, store, email)
}

// activeOn registers and activates email on svc.
func activeOn(t *testing.T, svc edge, store *fakeStore, email string) domain.Account {
	t.Helper()
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
	return acc
}

// emailsTo is what was emailed to addr: a code, or "" for a notice.
func (s *fakeStore) emailsTo(addr domain.Email) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.emails {
		if e.to == addr {
			out = append(out, e.code)
		}
	}
	return out
}

func TestEmailChange(t *testing.T) {
	ctx := context.Background()
	svc, store, acc := newMover(t, "old@example.com", changePolicy)
	kept, err := svc.SignIn(ctx, acc)
	if err != nil {
		t.Fatal(err)
	}
	other, err := svc.SignIn(ctx, acc)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RequestEmailChange(ctx, acc, " New@Example.com "); err != nil {
		t.Fatalf("RequestEmailChange: %v", err)
	}
	code := store.lastCode(t, "new@example.com")
	if len(code) != 8 {
		t.Fatalf("emailed %q to the new address, want an 8-digit code", code)
	}
	if got := store.emailsTo("old@example.com"); len(got) != 2 || got[1] != "" {
		t.Fatalf("emailed to the old address %q, want the activation code, then a notice", got)
	}
	sess, who, err := svc.AuthenticateToken(ctx, kept.Token)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := svc.ConfirmEmailChange(ctx, who, sess, code)
	if err != nil || moved.Email != "new@example.com" || moved.ID != acc.ID {
		t.Fatalf("ConfirmEmailChange = %+v, %v", moved, err)
	}
	if _, _, err := svc.AuthenticateToken(ctx, kept.Token); err != nil {
		t.Errorf("the confirming session after the change: %v", err)
	}
	if _, _, err := svc.AuthenticateToken(ctx, other.Token); !errors.Is(err, domain.ErrInvalidToken) {
		t.Errorf("another session after the change: %v, want it ended", err)
	}
	if _, err := svc.Authenticate(ctx, "old@example.com", "the owner's passphrase"); !errors.Is(err, domain.ErrUnauthorized) {
		t.Errorf("the old address signs in: %v", err)
	}
	if got, err := svc.Authenticate(ctx, "new@example.com", "the owner's passphrase"); err != nil || got.ID != acc.ID {
		t.Errorf("the new address: %+v, %v", got, err)
	}
	events, _, err := svc.Events(ctx, moved, "", 1)
	if err != nil || events[0].Type != domain.EventEmailChanged || events[0].Data["email"] != "new@example.com" {
		t.Errorf("the newest event %+v, %v", events, err)
	}
	if got := store.emailsTo("new@example.com"); len(got) != 1 {
		t.Errorf("emailed to the new address %q, want the code once", got)
	}
	// A Basic confirmation keeps no session.
	if _, err := svc.ConfirmEmailChange(ctx, moved, domain.Session{}, code); !errors.Is(err, domain.ErrInvalidEmailChangeCode) {
		t.Errorf("the code again: %v, want a miss", err)
	}
}

func TestEmailChangeRefusals(t *testing.T) {
	ctx := context.Background()
	svc, store, acc := newMover(t, "own@example.com", changePolicy)
	var verr *domain.ValidationError
	for _, raw := range []string{"not an address", "OWN@example.com"} {
		if err := svc.RequestEmailChange(ctx, acc, raw); !errors.As(err, &verr) || verr.Fields[0].Field != "email" {
			t.Errorf("RequestEmailChange(%q) = %v, want a validation error on email", raw, err)
		}
	}
	if _, err := svc.Register(ctx, "pending@example.com", "a pending passphrase"); err != nil {
		t.Fatal(err)
	}
	pending, err := svc.Authenticate(ctx, "pending@example.com", "a pending passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RequestEmailChange(ctx, pending, "elsewhere@example.com"); !errors.Is(err, domain.ErrAccountPending) {
		t.Errorf("a pending account: %v, want ErrAccountPending", err)
	}
	if _, err := svc.ConfirmEmailChange(ctx, pending, domain.Session{}, "12345678"); !errors.Is(err, domain.ErrAccountPending) {
		t.Errorf("a pending account's confirmation: %v, want ErrAccountPending", err)
	}
	stale := acc
	stale.PasswordHash = "hash:an older password"
	if err := svc.RequestEmailChange(ctx, stale, "elsewhere@example.com"); !errors.Is(err, domain.ErrUnauthorized) {
		t.Errorf("stale credentials: %v, want ErrUnauthorized", err)
	}
	if got := store.emailsTo("elsewhere@example.com"); len(got) != 0 {
		t.Errorf("refused requests emailed %q", got)
	}
	if _, err := svc.ConfirmEmailChange(ctx, acc, domain.Session{}, "1234"); !errors.As(err, &verr) {
		t.Errorf("a malformed code: %v, want a validation error (not a guess)", err)
	}
}

func TestEmailChangeMissesAnswerAlike(t *testing.T) {
	ctx := context.Background()
	p := changePolicy
	p.GuessesPerDay = 12
	svc, store, acc := newMover(t, "mover@example.com", p)
	request := func(to string) string {
		t.Helper()
		if err := svc.RequestEmailChange(ctx, acc, to); err != nil {
			t.Fatal(err)
		}
		return store.lastCode(t, domain.Email(to))
	}
	confirm := func(code string) error {
		_, err := svc.ConfirmEmailChange(ctx, acc, domain.Session{}, code)
		return err
	}
	miss := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, domain.ErrInvalidEmailChangeCode) {
			t.Errorf("%s: %v, want ErrInvalidEmailChangeCode", what, err)
		}
	}
	miss("no code at all", confirm("12345678"))
	first := request("target+1@example.com")
	second := request("target+2@example.com")
	miss("a replaced code", confirm(first))
	miss("a wrong code", confirm(wrongGuess(second)))
	store.advance(16 * time.Minute)
	miss("an expired code", confirm(second))
	// Void after 5 wrong guesses: the right one is a miss too.
	third := request("target+3@example.com")
	for range 5 {
		miss("a wrong guess", confirm(wrongGuess(third)))
	}
	miss("the right code after 5 wrong guesses", confirm(third))
	// The address taken since the request by an active account: the right code is a miss.
	fourth := request("target+4@example.com")
	activeOn(t, svc, store, "target+4@example.com")
	miss("an address taken since", confirm(fourth))
	if got, _ := svc.Account(ctx, acc.ID); got.Email != "mover@example.com" {
		t.Errorf("after the misses the account's address is %s", got.Email)
	}
	// Every miss but the first (no code: the account's own mailbox) and the taken address
	// counted on the one mailbox of target+N@: 9 of 12 so far.
	fifth := request("target+5@example.com")
	for range 3 {
		miss("a wrong guess", confirm(wrongGuess(fifth)))
	}
	var retry *domain.RetryLaterError
	if err := confirm(fifth); !errors.As(err, &retry) || retry.Reason != domain.ReasonGuessBudget {
		t.Errorf("past the new mailbox's wrong guesses: %v, want the guess budget", err)
	}
}

func TestEmailChangeToAnActiveAccountsAddress(t *testing.T) {
	ctx := context.Background()
	svc, store, acc := newMover(t, "curious@example.com", changePolicy)
	activeOn(t, svc, store, "taken@example.com")
	for _, to := range []string{"taken@example.com", "free@example.com"} {
		if err := svc.RequestEmailChange(ctx, acc, to); err != nil {
			t.Errorf("a request for %s: %v, want the same nil", to, err)
		}
	}
	if got := store.emailsTo("taken@example.com"); len(got) != 1 {
		t.Errorf("emailed to the active account %q, want its activation code alone", got)
	}
	if got := store.emailsTo("free@example.com"); len(got) != 1 || got[0] == "" {
		t.Errorf("emailed to the free address %q, want its code", got)
	}
	if got := store.emailsTo("curious@example.com"); len(got) != 3 || got[1] != "" || got[2] != "" {
		t.Errorf("emailed to the requester %q, want a notice for each request", got)
	}
}

func TestEmailChangeReplacesAPendingHolder(t *testing.T) {
	ctx := context.Background()
	svc, store, acc := newMover(t, "claimer@example.com", changePolicy)
	if _, err := svc.Register(ctx, "claimed@example.com", "a squatter's passphrase"); err != nil {
		t.Fatal(err)
	}
	squatter, err := svc.Authenticate(ctx, "claimed@example.com", "a squatter's passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RequestEmailChange(ctx, acc, "claimed@example.com"); err != nil {
		t.Fatal(err)
	}
	moved, err := svc.ConfirmEmailChange(ctx, acc, domain.Session{}, store.lastCode(t, "claimed@example.com"))
	if err != nil || moved.Email != "claimed@example.com" || moved.Status != domain.StatusActive {
		t.Fatalf("ConfirmEmailChange = %+v, %v", moved, err)
	}
	if _, err := svc.Account(ctx, squatter.ID); !errors.Is(err, domain.ErrAccountNotFound) {
		t.Errorf("the pending holder: %v, want it gone", err)
	}
	if _, err := svc.Authenticate(ctx, "claimed@example.com", "a squatter's passphrase"); !errors.Is(err, domain.ErrUnauthorized) {
		t.Errorf("the squatter's password: %v, want ErrUnauthorized", err)
	}
}

func TestANewPasswordCancelsAnEmailChange(t *testing.T) {
	ctx := context.Background()
	svc, store, acc := newMover(t, "owner@example.com", changePolicy)
	if err := svc.RequestEmailChange(ctx, acc, "thief@example.com"); err != nil {
		t.Fatal(err)
	}
	code := store.lastCode(t, "thief@example.com")
	if err := svc.ChangePassword(ctx, acc, "the owner's new passphrase"); err != nil {
		t.Fatal(err)
	}
	who, err := svc.Authenticate(ctx, "owner@example.com", "the owner's new passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ConfirmEmailChange(ctx, who, domain.Session{}, code); !errors.Is(err, domain.ErrInvalidEmailChangeCode) {
		t.Errorf("the code after a new password: %v, want a miss", err)
	}
}

func TestEmailChangeSpendsTheNewMailboxsCodes(t *testing.T) {
	ctx := context.Background()
	p := changePolicy
	p.CodesPerDay = 2
	svc, store, acc := newMover(t, "busy@example.com", p)
	for _, to := range []string{"box+1@example.com", "box+2@example.com"} {
		if err := svc.RequestEmailChange(ctx, acc, to); err != nil {
			t.Fatal(err)
		}
	}
	var retry *domain.RetryLaterError
	if err := svc.RequestEmailChange(ctx, acc, "box+3@example.com"); !asRetry(err, &retry, domain.ReasonCodeBudget) {
		t.Errorf("a third code for the mailbox box@: %v, want its code budget", err)
	}
	// Another mailbox has its own.
	if err := svc.RequestEmailChange(ctx, acc, "other@example.com"); err != nil {
		t.Errorf("another mailbox: %v", err)
	}
	if got := store.emailsTo("box+3@example.com"); len(got) != 0 {
		t.Errorf("a refused request emailed %q", got)
	}
	if got := store.emailsTo("busy@example.com"); len(got) != 4 {
		t.Errorf("emailed to the requester %q, want the activation code and a notice for each of the 3 codes issued", got)
	}
}
