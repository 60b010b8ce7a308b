package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// TestClientGuessBudgetSpansAddresses plays the attacker of issue 18: one client, many
// made-up addresses, a few wrong codes at each. The client's budget, not the addresses',
// stops it.
func TestClientGuessBudgetSpansAddresses(t *testing.T) {
	p := policy
	p.ClientGuessesPerDay = 7
	store, hasher := newFakeStore(), &fakeHasher{}
	svc := newEdge(t, store, hasher, p)
	attacker := WithClient(context.Background(), "192.0.2.1")
	wrong := 0
	var retry *domain.RetryLaterError
	for i := range 10 {
		email := fmt.Sprintf("x%d@corp.example", i)
		if _, err := svc.Register(attacker, email, "attacker password"); err != nil {
			t.Fatal(err)
		}
		who, err := svc.Authenticate(attacker, email, "attacker password")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			_, err := svc.Activate(attacker, who, wrongGuess(store.lastCode(t, domain.Email(email))))
			var invalid *domain.InvalidCodeError
			switch {
			case errors.As(err, &invalid):
				wrong++
			case errors.As(err, &retry) && retry.Reason == domain.ReasonClientGuessBudget:
			default:
				t.Fatalf("guess at %s: %v", email, err)
			}
		}
	}
	if wrong != 7 {
		t.Fatalf("the client made %d wrong guesses across 10 addresses, want its budget of 7", wrong)
	}
	if retry == nil || retry.RetryAfter <= 23*time.Hour {
		t.Fatalf("the refusal %+v, want to wait about 24 h", retry)
	}
	// Another client is not held back by it.
	other := WithClient(context.Background(), "198.51.100.7")
	who, err := svc.Authenticate(other, "x9@corp.example", "attacker password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Activate(other, who, store.lastCode(t, "x9@corp.example")); err != nil {
		t.Fatalf("another client with the right code: %v", err)
	}
}

// TestMailboxBudgetsSpanTags: +tags and gmail dots are one mailbox, whose daily codes
// are shared; each address is still its own account.
func TestMailboxBudgetsSpanTags(t *testing.T) {
	p := policy
	p.CodesPerDay = 3
	svc := newEdge(t, newFakeStore(), &fakeHasher{}, p)
	ctx := context.Background()
	ids := map[string]bool{}
	for _, email := range []string{"victim+1@gmail.com", "v.i.c.t.i.m+2@gmail.com", "victim@googlemail.com"} {
		acc, err := svc.Register(ctx, email, "some password")
		if err != nil {
			t.Fatalf("register %s: %v", email, err)
		}
		ids[acc.ID] = true
	}
	if len(ids) != 3 {
		t.Fatalf("%d accounts for 3 addresses, want 3", len(ids))
	}
	var retry *domain.RetryLaterError
	if _, err := svc.Register(ctx, "victim+4@gmail.com", "some password"); !asRetry(err, &retry, domain.ReasonCodeBudget) {
		t.Fatalf("a 4th code to the mailbox by a new +tag: %v, want the mailbox's code budget spent", err)
	}
	if _, err := svc.Register(ctx, "victim@example.com", "some password"); err != nil {
		t.Fatalf("another mailbox: %v", err)
	}
}

// TestSignInDelay: after the free failures a stranger waits, without its password being
// checked; an unknown email behaves like a known one; the owner's known client signs in
// all along; a password never checked (saturated hasher) is no failure.
func TestSignInDelay(t *testing.T) {
	store, hasher := newFakeStore(), &fakeHasher{}
	svc := newEdge(t, store, hasher, policy, WithSignInPolicy(domain.SignInPolicy{FailuresBeforeDelay: 3}))
	owner := WithClient(context.Background(), "owner")
	stranger := WithClient(context.Background(), "stranger")
	if _, err := svc.Register(owner, "olga@example.com", "olgas password"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(owner, "olga@example.com", "olgas password"); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"olga@example.com", "nobody@example.com"} {
		var refusals []string
		for range 5 {
			before := len(hasher.verified)
			_, err := svc.Authenticate(stranger, email, "guess")
			hashed := len(hasher.verified) - before
			var retry *domain.RetryLaterError
			switch {
			case errors.Is(err, domain.ErrUnauthorized) && hashed == 1:
				refusals = append(refusals, "401")
			case errors.As(err, &retry) && retry.Reason == domain.ReasonSignInDelay && hashed == 0:
				refusals = append(refusals, fmt.Sprintf("429 %s", retry.RetryAfter))
			default:
				t.Fatalf("%s: %v after %d hashes", email, err, hashed)
			}
		}
		if got := fmt.Sprint(refusals); got != "[401 401 401 429 1s 429 1s]" {
			t.Errorf("a stranger's attempts at %s: %s, want 3 wrong passwords then a delay of 1 s", email, got)
		}
	}
	// The owner's client is known: the stranger's failures do not delay it.
	if _, err := svc.Authenticate(owner, "olga@example.com", "olgas password"); err != nil {
		t.Fatalf("the owner during the attack: %v", err)
	}
	// A new client of the owner is a stranger until it signs in.
	phone := WithClient(context.Background(), "new phone")
	var retry *domain.RetryLaterError
	if _, err := svc.Authenticate(phone, "olga@example.com", "olgas password"); !asRetry(err, &retry, domain.ReasonSignInDelay) {
		t.Fatalf("the owner from a new client during the attack: %v, want the delay", err)
	}
	store.advance(time.Second)
	if _, err := svc.Authenticate(phone, "olga@example.com", "olgas password"); err != nil {
		t.Fatalf("the owner from a new client after the delay: %v", err)
	}
	// The next delay doubles: the stranger's failures remain after the owner's sign-in.
	if _, err := svc.Authenticate(stranger, "olga@example.com", "guess"); !errors.Is(err, domain.ErrUnauthorized) {
		t.Fatalf("the stranger after the delay: %v", err)
	}
	if _, err := svc.Authenticate(stranger, "olga@example.com", "guess"); !asRetry(err, &retry, domain.ReasonSignInDelay) || retry.RetryAfter != 2*time.Second {
		t.Fatalf("the stranger's 5th failure: %v, want a delay of 2 s", err)
	}
	// A password the saturated hasher never checked is no failure.
	hasher.busy = errors.New("saturated")
	fresh := WithClient(context.Background(), "fresh")
	for range 5 {
		if _, err := svc.Authenticate(fresh, "ivan@example.com", "guess"); !errors.Is(err, hasher.busy) {
			t.Fatalf("saturated: %v", err)
		}
	}
	hasher.busy = nil
	if _, err := svc.Authenticate(fresh, "ivan@example.com", "guess"); !errors.Is(err, domain.ErrUnauthorized) {
		t.Fatalf("after 5 unchecked attempts: %v, want a plain 401 (no failure counted)", err)
	}
}

// wrongGuess is a code of code's length that is not code.
func wrongGuess(code string) string {
	wrong := strings.Repeat("0", len(code))
	if wrong == code {
		wrong = strings.Repeat("1", len(code))
	}
	return wrong
}
