package app

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/acme/identity/modules/identity/domain"
)

// operator is the context of an administrator's request: the admin key's name as the
// actor, and no client.
func operator() context.Context {
	return WithOrigin(context.Background(), Origin{Actor: "support-alice", RequestID: "req-1"})
}

// TestDisableAccount: a disable ends every session, drops what was queued to the address
// and sends the notice alone; the right password then answers ErrAccountDisabled on
// both schemes (a wrong one still ErrUnauthorized), no session can be started, no code
// or notice is emailed, and an enable lifts it. Each change is an event with the actor;
// a second disable or enable records nothing.
func TestDisableAccount(t *testing.T) {
	ctx := WithClient(context.Background(), "198.51.100.1")
	svc, store, _, acc := newLifecycle(t, "dora@example.com")
	started, err := svc.SignIn(ctx, acc)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RequestReset(ctx, string(acc.Email)); err != nil {
		t.Fatal(err)
	}
	before := len(store.emailsTo(acc.Email))
	reason, _ := domain.ParseDisableReason("chargeback")
	if err := svc.DisableAccount(operator(), acc.ID, reason); err != nil {
		t.Fatal(err)
	}
	if got := store.emailsTo(acc.Email); len(got) != 1 || got[0] != "" {
		t.Errorf("emails to the address after the disable: %q (of %d before); want the notice alone", got, before)
	}
	if _, _, err := svc.AuthenticateToken(ctx, started.Token); !errors.Is(err, domain.ErrInvalidToken) {
		t.Errorf("a token of the disabled account: %v, want ErrInvalidToken (its session ended)", err)
	}
	if _, err := svc.Authenticate(ctx, string(acc.Email), "the owner's passphrase"); !errors.Is(err, domain.ErrAccountDisabled) {
		t.Errorf("the right password: %v, want ErrAccountDisabled", err)
	}
	if _, err := svc.Authenticate(ctx, string(acc.Email), "a wrong passphrase"); !errors.Is(err, domain.ErrUnauthorized) {
		t.Errorf("a wrong password: %v, want ErrUnauthorized", err)
	}
	// Credentials checked before the disable start nothing after it.
	if _, err := svc.SignIn(ctx, acc); !errors.Is(err, domain.ErrAccountDisabled) {
		t.Errorf("SignIn: %v, want ErrAccountDisabled", err)
	}
	if err := svc.RequestReset(ctx, string(acc.Email)); err != nil {
		t.Errorf("RequestReset: %v, want nil (the same answer)", err)
	}
	if err := svc.StartPasswordReset(operator(), acc.ID); err != nil {
		t.Errorf("StartPasswordReset: %v, want nil (the same answer)", err)
	}
	if _, err := svc.Register(ctx, string(acc.Email), "another passphrase"); !errors.Is(err, domain.ErrEmailTaken) {
		t.Errorf("Register on the address: %v, want ErrEmailTaken", err)
	}
	if got := store.emailsTo(acc.Email); len(got) != 1 {
		t.Errorf("emails to the disabled address: %q, want the notice alone", got)
	}
	if err := svc.DisableAccount(operator(), acc.ID, reason); err != nil {
		t.Fatal(err)
	}
	if err := svc.EnableAccount(operator(), acc.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.EnableAccount(operator(), acc.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, string(acc.Email), "the owner's passphrase"); err != nil {
		t.Errorf("the right password after the enable: %v", err)
	}
	if _, err := svc.SignIn(ctx, acc); err != nil {
		t.Errorf("SignIn after the enable: %v", err)
	}
	events, _, err := svc.EventsOfAccount(operator(), acc.ID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var admin []string
	for _, e := range events {
		if e.Data["actor"] != nil {
			admin = append(admin, fmt.Sprintf("%s by %v (%v)", e.Type, e.Data["actor"], e.Data["reason"]))
		}
	}
	want := []string{"account.enabled by support-alice (<nil>)", "account.disabled by support-alice (chargeback)"}
	if fmt.Sprint(admin) != fmt.Sprint(want) {
		t.Errorf("the administrator's events, newest first: %q, want %q", admin, want)
	}
	for _, id := range []string{"account-404", "not an id"} {
		for name, err := range map[string]error{
			"DisableAccount":     svc.DisableAccount(operator(), id, reason),
			"EnableAccount":      svc.EnableAccount(operator(), id),
			"RevokeSessions":     svc.RevokeSessions(operator(), id),
			"StartPasswordReset": svc.StartPasswordReset(operator(), id),
			"DeleteAccountByID":  svc.DeleteAccountByID(operator(), id),
		} {
			if !errors.Is(err, domain.ErrAccountNotFound) {
				t.Errorf("%s(%q): %v, want ErrAccountNotFound", name, id, err)
			}
		}
		if _, err := svc.Details(operator(), id); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("Details(%q): %v, want ErrAccountNotFound", id, err)
		}
		if _, _, err := svc.EventsOfAccount(operator(), id, "", 0); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("EventsOfAccount(%q): %v, want ErrAccountNotFound", id, err)
		}
	}
}

// TestAdminChanges: revoking sessions, starting a reset and deleting by id, each with
// its event and actor; the details count live sessions and known clients; a deleted
// account's events stay readable.
func TestAdminChanges(t *testing.T) {
	ctx := WithClient(context.Background(), "198.51.100.1")
	svc, store, _, acc := newLifecycle(t, "eve@example.com")
	if _, err := svc.Authenticate(ctx, string(acc.Email), "the owner's passphrase"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := svc.SignIn(ctx, acc); err != nil {
			t.Fatal(err)
		}
	}
	d, err := svc.Details(operator(), acc.ID)
	if err != nil || d.Account.ID != acc.ID || d.Sessions != 2 || len(d.KnownClients) != 1 ||
		d.KnownClients[0].Client != "198.51.100.1" || d.LastSignInAt == nil {
		t.Fatalf("Details = %+v, %v; want 2 sessions and the one known client", d, err)
	}
	if err := svc.RevokeSessions(operator(), acc.ID); err != nil {
		t.Fatal(err)
	}
	if d, _ := svc.Details(operator(), acc.ID); d.Sessions != 0 {
		t.Errorf("%d sessions after the revocation", d.Sessions)
	}
	if err := svc.StartPasswordReset(operator(), acc.ID); err != nil {
		t.Fatal(err)
	}
	if got := store.emailsTo(acc.Email); len(got[len(got)-1]) != domain.ResetCodeLength {
		t.Errorf("emails %q: want a reset code last", got)
	}
	// The same budgets as the owner's request: inside the resend interval, nothing.
	n := len(store.emailsTo(acc.Email))
	if err := svc.StartPasswordReset(operator(), acc.ID); err != nil || len(store.emailsTo(acc.Email)) != n {
		t.Errorf("a second reset at once: %v, %d emails (was %d)", err, len(store.emailsTo(acc.Email)), n)
	}
	if err := svc.DeleteAccountByID(operator(), acc.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.AccountByID(ctx, acc.ID); !errors.Is(err, domain.ErrAccountNotFound) {
		t.Errorf("the account after its deletion: %v", err)
	}
	events, _, err := svc.EventsOfAccount(operator(), acc.ID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for _, e := range events {
		if e.Data["actor"] == "support-alice" {
			actors = append(actors, e.Type)
		}
	}
	if want := []string{domain.EventDeleted, domain.EventSessionsRevoked}; fmt.Sprint(actors) != fmt.Sprint(want) {
		t.Errorf("the administrator's events of the deleted account: %v, want %v", actors, want)
	}
	trail, _, err := svc.Trail(operator(), EventFilter{Type: domain.EventSessionsRevoked}, 0)
	if err != nil || len(trail) != 1 || trail[0].AccountID != acc.ID {
		t.Errorf("Trail of sessions_revoked = %+v, %v", trail, err)
	}
}

// TestListAccountsPages: pages of at most the limit, ordered by id, filtered, walked to
// the end by next.
func TestListAccountsPages(t *testing.T) {
	ctx := context.Background()
	svc, _, _, first := newLifecycle(t, "a0@example.com")
	for i := 1; i < 5; i++ {
		if _, err := svc.Register(ctx, fmt.Sprintf("a%d@example.com", i), "a pending passphrase"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Register(ctx, "b@example.com", "a pending passphrase"); err != nil {
		t.Fatal(err)
	}
	var seen []string
	after := ""
	for pages := 0; ; pages++ {
		page, next, err := svc.ListAccounts(ctx, AccountFilter{EmailPrefix: "A", After: after}, 2)
		if err != nil || len(page) > 2 || pages > 3 {
			t.Fatalf("page %d: %d accounts, %v", pages, len(page), err)
		}
		for _, a := range page {
			seen = append(seen, string(a.Email))
		}
		if next == "" {
			break
		}
		after = next
	}
	if len(seen) != 5 {
		t.Errorf("walked %q, want the 5 addresses starting with a", seen)
	}
	pending := domain.StatusPending
	page, _, err := svc.ListAccounts(ctx, AccountFilter{Status: pending}, 0)
	if err != nil || len(page) != 5 {
		t.Errorf("pending: %d, %v; want 5", len(page), err)
	}
	yes := true
	reason, _ := domain.ParseDisableReason("")
	if err := svc.DisableAccount(operator(), first.ID, reason); err != nil {
		t.Fatal(err)
	}
	page, _, err = svc.ListAccounts(ctx, AccountFilter{Disabled: &yes}, 0)
	if err != nil || len(page) != 1 || page[0].ID != first.ID || page[0].DisabledAt == nil {
		t.Errorf("disabled: %+v, %v; want the one", page, err)
	}
}

// TestATokenOfADisabledAccount: a disable ends the account's sessions in its change, so
// no token of a disabled account should live; one that did (a store that kept it) is
// refused all the same.
func TestATokenOfADisabledAccount(t *testing.T) {
	ctx := context.Background()
	svc, store, _, acc := newLifecycle(t, "fay@example.com")
	started, err := svc.SignIn(ctx, acc)
	if err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	a := store.accounts[acc.ID]
	at := store.now
	a.DisabledAt = &at // disabled behind the change path's back: the session stays
	store.accounts[acc.ID] = a
	store.mu.Unlock()
	if _, _, err := svc.AuthenticateToken(ctx, started.Token); !errors.Is(err, domain.ErrAccountDisabled) {
		t.Errorf("a live token of a disabled account: %v, want ErrAccountDisabled", err)
	}
}
