package app

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// fakeStore keeps accounts, sessions and sign-in histories in memory with the contract
// of Store and SessionStore (storetest runs it): changes run under one lock, a change's
// error saves nothing, and what a change saves is what its events and its state say,
// as the PostgreSQL store does.
type fakeStore struct {
	mu       sync.Mutex
	now      time.Time
	accounts map[string]domain.Account // by id
	ledgers  map[domain.Mailbox]domain.Ledger
	clients  map[string]domain.Ledger
	emails   []fakeEmail
	nextID   int
	sessions map[string]fakeSession // by public id
	nextSess int
	// The sign-in history: failures by attempt id, and the clients known to each account.
	failures    map[int64]failure
	nextAttempt int64
	known       map[string]map[string]time.Time // account id → client → last sign-in
	// trail is the audit trail, oldest first.
	trail     []domain.AccountEvent
	nextEvent int
}

// fakeEmail is an email queued: a code of Purpose, or a notice (no code).
type fakeEmail struct {
	to      domain.Email
	purpose domain.Purpose
	code    string
}

type fakeSession struct {
	account       string
	hash          []byte
	created, used time.Time
	device        domain.Device
	seq           int
}

type failure struct {
	email domain.Email
	domain.Failure
}

var (
	_ Store        = (*fakeStore)(nil)
	_ SessionStore = (*fakeStore)(nil)
)

func newFakeStore() *fakeStore {
	return &fakeStore{
		now:      time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		accounts: map[string]domain.Account{},
		ledgers:  map[domain.Mailbox]domain.Ledger{},
		clients:  map[string]domain.Ledger{},
		sessions: map[string]fakeSession{},
		failures: map[int64]failure{},
		known:    map[string]map[string]time.Time{},
	}
}

func (s *fakeStore) AccountByEmail(_ context.Context, email domain.Email) (domain.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.byEmail(email); ok {
		return a, nil
	}
	return domain.Account{}, domain.ErrAccountNotFound
}

func (s *fakeStore) byEmail(email domain.Email) (domain.Account, bool) {
	for _, a := range s.accounts {
		if a.Email == email {
			return a, true
		}
	}
	return domain.Account{}, false
}

func (s *fakeStore) AccountByID(_ context.Context, id string) (domain.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[id]; ok {
		return a, nil
	}
	return domain.Account{}, domain.ErrAccountNotFound
}

func (s *fakeStore) newID() string {
	s.nextID++
	return fmt.Sprintf("account-%d", s.nextID)
}

// copyCode is a copy of c: the domain alters codes in place, and a refused change must
// leave the stored one as it was.
func copyCode(c *domain.Code) *domain.Code {
	if c == nil {
		return nil
	}
	copied := *c
	return &copied
}

func (s *fakeStore) Change(ctx context.Context, key Key, change func(*domain.Account, time.Time) error) (domain.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var a domain.Account
	if key.ID != "" || key.Email == "" {
		var ok bool
		if a, ok = s.accounts[key.ID]; !ok {
			return domain.Account{}, domain.ErrAccountNotFound
		}
	} else if found, ok := s.byEmail(key.Email); ok {
		a = found
	} else {
		a = domain.Account{Email: key.Email}
	}
	a.Code, a.Reset, a.EmailChange = copyCode(a.Code), copyCode(a.Reset), copyCode(a.EmailChange)
	mailbox, client := a.Email.Mailbox(), ClientFrom(ctx)
	if key.EmailChange {
		to := key.NewEmail
		if to == "" && a.EmailChange != nil {
			to = a.EmailChange.To
		}
		if to != "" {
			mailbox = to.Mailbox()
			if h, ok := s.byEmail(to); ok {
				a.Holder = &domain.AddressHolder{ID: h.ID, Status: h.Status, Disabled: h.DisabledAt != nil}
			}
		}
	}
	if key.Budgets.Mailbox {
		l := s.ledgers[mailbox]
		a.Ledger = domain.Ledger{CodesIssued: inWindow(l.CodesIssued, s.now), WrongGuesses: inWindow(l.WrongGuesses, s.now),
			ResetsIssued: inWindow(l.ResetsIssued, s.now), WrongResets: inWindow(l.WrongResets, s.now)}
	}
	b := key.Budgets
	clientBudget := client != "" && b.ClientKind != "" && b.ClientLimit > 0
	if clientBudget {
		cl := s.clients[client]
		switch b.ClientKind {
		case ClientCodes:
			a.Client.CodesIssued = inWindow(cl.CodesIssued, s.now)
		case ClientGuesses:
			a.Client.WrongGuesses = inWindow(cl.WrongGuesses, s.now)
		}
	}
	if err := change(&a, s.now); err != nil {
		return domain.Account{}, err
	}
	if key.CheckOnly {
		return a, nil
	}
	replaced := map[string]bool{}
	for _, e := range a.Events() { // refused before anything is saved, as a rollback would
		switch e := e.(type) {
		case domain.SessionEnded:
			if sess, live := s.sessions[e.ID]; !live || sess.account != a.ID {
				return domain.Account{}, domain.ErrSessionNotFound
			}
		case domain.AccountReplaced:
			replaced[e.ID] = true
		case domain.EmailChanged: // the unique constraint on the address
			if h, ok := s.byEmail(e.To); ok && h.ID != a.ID && !replaced[h.ID] {
				return domain.Account{}, domain.ErrEmailTaken
			}
		}
	}
	// The ledgers a change spends, by mailbox: each code's and each guess's is the
	// mailbox of the address it proves (the new one, for an email change).
	ledgers := map[domain.Mailbox]domain.Ledger{}
	spendOn := func(e domain.Email, spend func(*domain.Ledger)) {
		m := e.Mailbox()
		l, ok := ledgers[m]
		if !ok {
			l = s.ledgers[m]
		}
		spend(&l)
		ledgers[m] = l
	}
	cl := s.clients[client]
	prepend := func(spent *domain.Tally, at time.Time) { *spent = append(domain.Tally{{At: at, Units: 1}}, *spent...) }
	audit := func(kind string, data map[string]any) {
		if data == nil {
			data = map[string]any{}
		}
		if actor := OriginFrom(ctx).Actor; actor != "" {
			data["actor"] = actor
		}
		s.nextEvent++
		s.trail = append(s.trail, domain.AccountEvent{ID: fmt.Sprintf("event-%d", s.nextEvent), Type: kind,
			OccurredAt: s.now, AccountID: a.ID, Data: data})
	}
	for _, e := range a.Events() {
		switch e := e.(type) {
		case domain.AccountDeleted:
			s.forget(e.ID)
			s.emails = slices.DeleteFunc(s.emails, func(m fakeEmail) bool { return m.to == e.Email })
			s.emails = append(s.emails, fakeEmail{to: e.Email}) // the deletion's notice
			audit(domain.EventDeleted, nil)
			for i := range s.trail {
				if s.trail[i].AccountID == e.ID {
					delete(s.trail[i].Data, "email")
				}
			}
			return a, nil
		case domain.AccountReplaced:
			s.forget(e.ID)
		case domain.AccountRegistered:
			a.ID = s.newID()
			audit(domain.EventRegistered, map[string]any{"email": string(e.Email)})
		case domain.AccountActivated:
			audit(domain.EventActivated, map[string]any{"email": string(e.Email)})
		case domain.ClientSignedIn:
			if at, ok := s.known[a.ID][e.Client]; !ok || s.now.Sub(at) >= domain.KnownClientWindow {
				audit(domain.EventSignedIn, map[string]any{"client": e.Client})
				if e.Notify {
					s.emails = append(s.emails, fakeEmail{to: e.Email})
				}
			}
			if s.known[a.ID] == nil {
				s.known[a.ID] = map[string]time.Time{}
			}
			s.known[a.ID][e.Client] = s.now
		case domain.CodeIssued:
			spendOn(e.Email, func(l *domain.Ledger) {
				if e.Purpose == domain.PurposePasswordReset {
					prepend(&l.ResetsIssued, e.IssuedAt)
				} else {
					prepend(&l.CodesIssued, e.IssuedAt)
				}
			})
			if clientBudget && b.ClientKind == ClientCodes {
				prepend(&cl.CodesIssued, e.IssuedAt)
			}
			if !e.Withheld {
				s.emails = append(s.emails, fakeEmail{to: e.Email, purpose: e.Purpose, code: e.Code})
			}
		case domain.EmailChangeRequested:
			s.emails = append(s.emails, fakeEmail{to: e.Email}) // the notice
		case domain.EmailChanged:
			maps.DeleteFunc(s.sessions, func(id string, sess fakeSession) bool { return sess.account == a.ID && id != e.Keep })
			for id, f := range s.failures {
				if f.email == e.From {
					f.email = e.To
					s.failures[id] = f
				}
			}
			audit(domain.EventEmailChanged, map[string]any{"email": string(e.To)})
		case domain.WrongCode:
			spendOn(e.Email, func(l *domain.Ledger) {
				if e.Purpose == domain.PurposePasswordReset {
					prepend(&l.WrongResets, e.At)
				} else {
					prepend(&l.WrongGuesses, e.At)
				}
			})
			if clientBudget && b.ClientKind == ClientGuesses {
				prepend(&cl.WrongGuesses, e.At)
			}
		case domain.SessionStarted:
			s.nextSess++
			id := fmt.Sprintf("session-%d", s.nextSess)
			s.sessions[id] = fakeSession{account: a.ID, hash: e.TokenHash, created: s.now, used: s.now, device: e.Device, seq: s.nextSess}
			s.evict(a.ID, e.Policy)
			audit(domain.EventSignedIn, map[string]any{"client": e.Device.Client, "session_id": id})
		case domain.SessionEnded:
			delete(s.sessions, e.ID)
		case domain.SessionsEnded:
			s.endSessions(a.ID)
			audit(domain.EventSessionsRevoked, nil)
		case domain.AccountDisabled:
			s.endSessions(a.ID)
			s.emails = slices.DeleteFunc(s.emails, func(m fakeEmail) bool { return m.to == e.Email })
			s.emails = append(s.emails, fakeEmail{to: e.Email}) // the notice
			var data map[string]any
			if e.Reason != "" {
				data = map[string]any{"reason": e.Reason}
			}
			audit(domain.EventDisabled, data)
		case domain.AccountEnabled:
			audit(domain.EventEnabled, nil)
		case domain.PasswordChanged:
			s.endSessions(a.ID)
			if e.Reset {
				audit(domain.EventPasswordReset, nil)
			} else {
				audit(domain.EventPasswordChanged, nil)
			}
			for id, f := range s.failures {
				if f.email == a.Email {
					delete(s.failures, id)
				}
			}
			s.known[a.ID] = map[string]time.Time{}
			if client != "" {
				s.known[a.ID][client] = s.now
			}
			s.emails = append(s.emails, fakeEmail{to: e.Email})
		}
	}
	maps.Copy(s.ledgers, ledgers)
	if clientBudget {
		s.clients[client] = cl
	}
	if a.ID != "" {
		// Saved without the events and the budgets, as a store would load it back.
		s.accounts[a.ID] = domain.Account{ID: a.ID, Email: a.Email, PasswordHash: a.PasswordHash, Status: a.Status,
			CreatedAt: a.CreatedAt, ActivatedAt: a.ActivatedAt, DisabledAt: a.DisabledAt, Code: copyCode(a.Code), Reset: copyCode(a.Reset),
			EmailChange: copyCode(a.EmailChange)}
	}
	return a, nil
}

// forget deletes the account id with what cascades from it: its sessions and known
// clients.
func (s *fakeStore) forget(id string) {
	delete(s.accounts, id)
	delete(s.known, id)
	s.endSessions(id)
}

func (s *fakeStore) endSessions(account string) {
	maps.DeleteFunc(s.sessions, func(_ string, sess fakeSession) bool { return sess.account == account })
}

// evict ends the account's sessions past p.PerAccount (least recently used first) and
// those already ended.
func (s *fakeStore) evict(account string, p domain.SessionPolicy) {
	var ids []string
	for id, sess := range s.sessions {
		if sess.account == account {
			if s.live(sess, p) {
				ids = append(ids, id)
			} else {
				delete(s.sessions, id)
			}
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c := s.sessions[b].used.Compare(s.sessions[a].used); c != 0 {
			return c
		}
		return s.sessions[b].seq - s.sessions[a].seq
	})
	for _, id := range ids[min(len(ids), p.PerAccount):] {
		delete(s.sessions, id)
	}
}

func (s *fakeStore) live(sess fakeSession, p domain.SessionPolicy) bool {
	return s.now.Sub(sess.used) < p.IdleTimeout && s.now.Sub(sess.created) < p.MaxAge
}

func (s *fakeStore) UseSession(_ context.Context, tokenHash []byte, p domain.SessionPolicy) (domain.Session, domain.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.sessions {
		if !bytes.Equal(sess.hash, tokenHash) || !s.live(sess, p) {
			continue
		}
		if s.now.Sub(sess.used) >= p.TouchEvery() {
			sess.used = s.now
			s.sessions[id] = sess
		}
		return domain.Session{ID: id, AccountID: sess.account, CreatedAt: sess.created}, s.accounts[sess.account], nil
	}
	return domain.Session{}, domain.Account{}, domain.ErrInvalidToken
}

func (s *fakeStore) SessionsOf(_ context.Context, accountID string, p domain.SessionPolicy) ([]domain.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.Session
	for id, sess := range s.sessions {
		if sess.account == accountID && s.live(sess, p) {
			out = append(out, domain.Session{ID: id, AccountID: accountID, CreatedAt: sess.created, LastUsedAt: sess.used,
				Client: sess.device.Client, UserAgent: sess.device.UserAgent})
		}
	}
	slices.SortFunc(out, func(a, b domain.Session) int { return s.sessions[b.ID].seq - s.sessions[a.ID].seq })
	return out, nil
}

// inWindow is what a store loads of a ledger: what was spent in the last 24 h, newest
// first. The fake keeps every unit at its instant (the real store counts a client's per
// span of time, stamped with the span's end: the same decisions, a Retry-After up to a
// span longer).
func inWindow(newestFirst domain.Tally, now time.Time) domain.Tally {
	var out domain.Tally
	for _, c := range newestFirst {
		if now.Sub(c.At) < domain.BudgetWindow {
			out = append(out, c)
		}
	}
	return out
}

func (s *fakeStore) Attempt(_ context.Context, email domain.Email, client string,
	decide func(domain.SignInHistory, time.Time) error,
) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := domain.SignInHistory{Client: client}
	if a, ok := s.byEmail(email); ok {
		if at, ok := s.known[a.ID][client]; ok && s.now.Sub(at) < domain.KnownClientWindow {
			h.Known = true
		}
	}
	ids := slices.Sorted(maps.Keys(s.failures))
	for _, id := range slices.Backward(ids) { // newest first
		if f := s.failures[id]; f.email == email && s.now.Sub(f.At) < domain.FailureWindow {
			h.Failures = append(h.Failures, f.Failure)
		}
	}
	if err := decide(h, s.now); err != nil {
		return 0, err
	}
	s.nextAttempt++
	s.failures[s.nextAttempt] = failure{email: email, Failure: domain.Failure{Client: client, At: s.now}}
	return s.nextAttempt, nil
}

func (s *fakeStore) SignedIn(_ context.Context, email domain.Email, client, accountID string) (known, anyKnown bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, f := range s.failures {
		if f.email == email && f.Client == client {
			delete(s.failures, id)
		}
	}
	for _, at := range s.known[accountID] {
		anyKnown = anyKnown || s.now.Sub(at) < domain.KnownClientWindow
	}
	if _, ok := s.accounts[accountID]; !ok {
		return false, anyKnown, nil
	}
	at, ok := s.known[accountID][client]
	if !ok || s.now.Sub(at) >= domain.KnownClientWindow {
		return false, anyKnown, nil
	}
	s.known[accountID][client] = s.now
	return true, anyKnown, nil
}

func (s *fakeStore) EventsOf(_ context.Context, accountID, before string, limit int) ([]domain.AccountEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.AccountEvent
	skipping := before != ""
	for i := len(s.trail) - 1; i >= 0 && len(out) < limit; i-- {
		e := s.trail[i]
		if e.AccountID != accountID {
			continue
		}
		if skipping {
			skipping = e.ID != before
			continue
		}
		out = append(out, e)
	}
	if skipping {
		return nil, nil // before is not one of the account's events
	}
	return out, nil
}

func (s *fakeStore) Events(_ context.Context, f EventFilter, limit int) ([]domain.AccountEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.AccountEvent
	skipping := f.Before != ""
	// The trail is written in time order, one clock: newest first is the trail backwards.
	for i := len(s.trail) - 1; i >= 0 && len(out) < limit; i-- {
		e := s.trail[i]
		if skipping {
			skipping = e.ID != f.Before
			continue
		}
		if (f.Type == "" || e.Type == f.Type) && !e.OccurredAt.Before(f.Since) {
			out = append(out, e)
		}
	}
	if skipping {
		return nil, nil // before is no event
	}
	return out, nil
}

func (s *fakeStore) Accounts(_ context.Context, f AccountFilter, limit int) ([]domain.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.Account
	for _, id := range slices.Sorted(maps.Keys(s.accounts)) {
		a := s.accounts[id]
		switch {
		case f.After != "" && id <= f.After,
			!strings.HasPrefix(string(a.Email), strings.ToLower(f.EmailPrefix)),
			f.Status != "" && a.Status != f.Status,
			f.Disabled != nil && *f.Disabled != (a.DisabledAt != nil):
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, a)
	}
	return out, nil
}

func (s *fakeStore) KnownClientsOf(_ context.Context, accountID string) ([]domain.KnownClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.KnownClient
	for client, at := range s.known[accountID] {
		if s.now.Sub(at) < domain.KnownClientWindow {
			out = append(out, domain.KnownClient{Client: client, SignedInAt: at})
		}
	}
	slices.SortFunc(out, func(a, b domain.KnownClient) int {
		if c := b.SignedInAt.Compare(a.SignedInAt); c != 0 {
			return c
		}
		return strings.Compare(a.Client, b.Client)
	})
	return out, nil
}

func (s *fakeStore) Failed(_ context.Context, attempt int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.failures[attempt]; ok {
		f.Checked = true
		s.failures[attempt] = f
	}
	return nil
}

func (s *fakeStore) Withdraw(_ context.Context, attempt int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failures, attempt)
	return nil
}

func (s *fakeStore) advance(d time.Duration) {
	s.mu.Lock()
	s.now = s.now.Add(d)
	s.mu.Unlock()
}

// lastCode is the code last emailed to email, of any purpose.
func (s *fakeStore) lastCode(t *testing.T, email domain.Email) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.emails) - 1; i >= 0; i-- {
		if s.emails[i].to == email && s.emails[i].code != "" {
			return s.emails[i].code
		}
	}
	t.Fatalf("no code emailed to %s", email)
	return ""
}

// clientUnits counts the units the client's budgets hold, every kind and age.
func (s *fakeStore) clientUnits(client string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.clients[client]
	return l.CodesIssued.Units() + l.WrongGuesses.Units()
}
