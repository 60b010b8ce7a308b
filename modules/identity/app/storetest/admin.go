package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
)

// runAdmin is the contract of what the administration API needs of the store: a disable
// and an enable through the one change path, the list of accounts, the known clients and
// the trail of every account.
func runAdmin(t *testing.T, newSubject func(t *testing.T) Subject,
	registered, active func(t *testing.T, s app.Store, email domain.Email) domain.Account,
) {
	ctx := context.Background()
	operator := app.WithOrigin(ctx, app.Origin{Actor: "support-bob", RequestID: "req-admin"})

	t.Run("a disable ends the sessions and the unsent emails, is saved, sends its notice; an enable lifts it", func(t *testing.T) {
		sub := newSubject(t)
		s := sub.Store
		acc := active(t, s, "dina@example.com")
		token := signIn(t, s, acc.ID)
		if _, err := s.Change(ctx, byEmail(acc.Email), func(a *domain.Account, now time.Time) error {
			return a.IssueReset(now, resets, rand.Reader)
		}); err != nil {
			t.Fatal(err)
		}
		reason, _ := domain.ParseDisableReason("spam")
		for range 2 { // the second changes nothing
			if _, err := s.Change(operator, app.ByID(acc.ID), func(a *domain.Account, now time.Time) error {
				a.Disable(reason, now)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.AccountByID(ctx, acc.ID)
		if err != nil || got.DisabledAt == nil || got.Reset != nil {
			t.Fatalf("the account after a disable: %+v, %v; want DisabledAt set, no reset code", got, err)
		}
		if _, _, err := sub.Sessions.UseSession(ctx, token, sessions); !errors.Is(err, domain.ErrInvalidToken) {
			t.Errorf("a session after the disable: %v, want ErrInvalidToken", err)
		}
		if codes := sub.Emailed(t, acc.Email); len(codes) != 1 || codes[0] != "" {
			t.Errorf("emails to the address: %q, want the notice alone (the reset code dropped unsent)", codes)
		}
		if _, err := s.Change(operator, app.ByID(acc.ID), func(a *domain.Account, now time.Time) error {
			a.Enable(now)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.AccountByID(ctx, acc.ID); got.DisabledAt != nil {
			t.Errorf("DisabledAt %v after the enable", got.DisabledAt)
		}
		events, err := s.EventsOf(ctx, acc.ID, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		var admin []string
		for _, e := range events {
			if e.Data["actor"] != nil {
				admin = append(admin, fmt.Sprintf("%s %v %v", e.Type, e.Data["actor"], e.Data["reason"]))
			}
		}
		if want := []string{"account.enabled support-bob <nil>", "account.disabled support-bob spam"}; !slices.Equal(admin, want) {
			t.Errorf("events with an actor: %q, want %q", admin, want)
		}
	})

	t.Run("a disabled account keeps its address: no takeover, no retention", func(t *testing.T) {
		sub := newSubject(t)
		s := sub.Store
		acc := registered(t, s, "held@example.com")
		if _, err := s.Change(operator, app.ByID(acc.ID), func(a *domain.Account, now time.Time) error {
			a.Disable(domain.DisableReason{}, now)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Change(ctx, byEmail(acc.Email), register("hash-2", domain.CodePolicy{TTL: time.Minute, MaxAttempts: 3, GuessesPerDay: 20, CodesPerDay: 10})); !errors.Is(err, domain.ErrEmailTaken) {
			t.Errorf("a registration of a disabled pending account's address: %v, want ErrEmailTaken", err)
		}
		if got, err := s.AccountByID(ctx, acc.ID); err != nil || got.PasswordHash != acc.PasswordHash {
			t.Errorf("the disabled account after a registration of its address: %+v, %v", got, err)
		}
	})

	t.Run("accounts: by id, filtered, a prefix of the address alone, in pages that neither repeat nor skip under inserts", func(t *testing.T) {
		sub := newSubject(t)
		s := sub.Store
		var existing []string
		for i := range 12 {
			acc := registered(t, s, domain.Email(fmt.Sprintf("walk%02d@example.com", i)))
			existing = append(existing, acc.ID)
		}
		for _, e := range []domain.Email{"wal_k@example.com", "wal%k@example.com", `wal\k@example.com`, "other@example.com"} {
			registered(t, s, e)
		}
		actives := active(t, s, "walker@example.com")
		// Inserts run while the pages are walked: the accounts that existed at the start
		// are each seen exactly once.
		var (
			stop     atomic.Bool
			inserted atomic.Int64
			wg       sync.WaitGroup
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 30 && !stop.Load(); i++ { // bounded: they match the prefix too
				if _, err := s.Change(ctx, byEmail(domain.Email(fmt.Sprintf("walk-new%03d@example.com", i))), register("hash", policy)); err != nil {
					t.Errorf("a concurrent registration: %v", err)
					return
				}
				inserted.Add(1)
			}
		}()
		seen := map[string]int{}
		after := ""
		for pages := 0; pages < 200; pages++ {
			page, err := s.Accounts(ctx, app.AccountFilter{EmailPrefix: "WALK", After: after}, 3)
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range page {
				seen[a.ID]++
				if i > 0 && page[i-1].ID >= a.ID {
					t.Errorf("a page out of id order: %s then %s", page[i-1].ID, a.ID)
				}
				if len(a.Email) < 4 || a.Email[:4] != "walk" {
					t.Errorf("%s does not start with walk", a.Email)
				}
			}
			if len(page) < 3 {
				break
			}
			after = page[len(page)-1].ID
			if pages == 1 {
				poll(t, func() bool { return inserted.Load() >= 3 })
			}
		}
		stop.Store(true)
		wg.Wait()
		for _, id := range append(existing, actives.ID) {
			if seen[id] != 1 {
				t.Errorf("the account %s was seen %d times walking the pages, want once", id, seen[id])
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("the account %s was seen %d times", id, n)
			}
		}
		// LIKE's metacharacters are the address's characters.
		for prefix, want := range map[string]string{"wal_": "wal_k@example.com", "wal%": "wal%k@example.com", `wal\`: `wal\k@example.com`} {
			page, err := s.Accounts(ctx, app.AccountFilter{EmailPrefix: prefix}, 10)
			if err != nil || len(page) != 1 || string(page[0].Email) != want {
				t.Errorf("prefix %q: %v, %v; want %s alone", prefix, page, err, want)
			}
		}
		pending, yes, no := domain.StatusActive, true, false
		page, err := s.Accounts(ctx, app.AccountFilter{EmailPrefix: "walk", Status: pending}, 10)
		if err != nil || len(page) != 1 || page[0].ID != actives.ID {
			t.Errorf("active accounts: %v, %v; want walker alone", page, err)
		}
		if _, err := s.Change(operator, app.ByID(existing[3]), func(a *domain.Account, now time.Time) error {
			a.Disable(domain.DisableReason{}, now)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		page, err = s.Accounts(ctx, app.AccountFilter{Disabled: &yes}, 10)
		if err != nil || len(page) != 1 || page[0].ID != existing[3] || page[0].DisabledAt == nil {
			t.Errorf("disabled accounts: %v, %v; want the one", page, err)
		}
		page, err = s.Accounts(ctx, app.AccountFilter{EmailPrefix: "walk0", Disabled: &no}, 20)
		if err != nil || len(page) != 9 {
			t.Errorf("enabled walk0*: %d, %v; want 9", len(page), err)
		}
		if page, err := s.Accounts(ctx, app.AccountFilter{EmailPrefix: "nobody"}, 10); err != nil || len(page) != 0 {
			t.Errorf("an unmatched prefix: %v, %v", page, err)
		}
	})

	t.Run("known clients: the account's, the most recent first", func(t *testing.T) {
		sub := newSubject(t)
		s := sub.Store
		acc := active(t, s, "kim@example.com")
		for _, client := range []string{"192.0.2.1", "192.0.2.2"} {
			if _, err := s.Change(ctx, app.ByID(acc.ID), func(a *domain.Account, now time.Time) error {
				return a.SignedInFrom(client, now, false)
			}); err != nil {
				t.Fatal(err)
			}
		}
		known, err := s.KnownClientsOf(ctx, acc.ID)
		if err != nil || len(known) != 2 {
			t.Fatalf("KnownClientsOf = %+v, %v; want 2", known, err)
		}
		if known[0].SignedInAt.Before(known[1].SignedInAt) {
			t.Errorf("known clients %+v, want the most recent first", known)
		}
		if none, err := s.KnownClientsOf(ctx, "not an id"); err != nil || len(none) != 0 {
			t.Errorf("KnownClientsOf an unknown id = %+v, %v", none, err)
		}
	})

	t.Run("the trail of every account: newest first, by type and since, in pages", func(t *testing.T) {
		sub := newSubject(t)
		s := sub.Store
		a := active(t, s, "tia@example.com")
		b := active(t, s, "tom@example.com")
		all, err := s.Events(ctx, app.EventFilter{}, 100)
		if err != nil || len(all) != 4 || all[0].AccountID != b.ID || all[0].Type != domain.EventActivated ||
			all[3].AccountID != a.ID || all[3].Type != domain.EventRegistered {
			t.Fatalf("Events = %+v, %v; want the 4, newest first", all, err)
		}
		page, err := s.Events(ctx, app.EventFilter{Before: all[1].ID}, 100)
		if err != nil || len(page) != 2 || page[0].ID != all[2].ID || page[1].ID != all[3].ID {
			t.Errorf("before the second: %+v, %v", page, err)
		}
		typed, err := s.Events(ctx, app.EventFilter{Type: domain.EventRegistered}, 100)
		if err != nil || len(typed) != 2 || typed[0].AccountID != b.ID {
			t.Errorf("registered events: %+v, %v", typed, err)
		}
		if late, err := s.Events(ctx, app.EventFilter{Since: all[0].OccurredAt.Add(time.Hour)}, 100); err != nil || len(late) != 0 {
			t.Errorf("events since an hour after the last: %+v, %v", late, err)
		}
		if since, err := s.Events(ctx, app.EventFilter{Since: all[0].OccurredAt}, 100); err != nil || len(since) == 0 || since[0].ID != all[0].ID {
			t.Errorf("events since the newest's time: %+v, %v; want it among them", since, err)
		}
		if none, err := s.Events(ctx, app.EventFilter{Before: "00000000-0000-0000-0000-000000000000"}, 100); err != nil || len(none) != 0 {
			t.Errorf("before an id that is no event: %+v, %v", none, err)
		}
	})
}

// poll waits up to 10 s for cond (the suite has no clock of its own to inject).
func poll(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
