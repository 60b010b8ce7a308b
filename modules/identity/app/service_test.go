package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// fakeStore keeps accounts in memory with the Store's contract: closures run under one
// lock, and a closure's error saves nothing.
type fakeStore struct {
	mu       sync.Mutex
	now      time.Time
	accounts map[string]domain.Account // by id
	ledgers  map[domain.Mailbox]domain.Ledger
	clients  map[string]domain.Ledger
	emails   []domain.CodeIssued
	nextID   int
	// The sign-in history: failures by attempt id, and the clients known to each account.
	failures    map[int64]failure
	nextAttempt int64
	known       map[string]map[string]time.Time // account id → client → last sign-in
}

type failure struct {
	email domain.Email
	domain.Failure
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		now:      time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		accounts: map[string]domain.Account{},
		ledgers:  map[domain.Mailbox]domain.Ledger{},
		clients:  map[string]domain.Ledger{},
		failures: map[int64]failure{},
		known:    map[string]map[string]time.Time{},
	}
}

func (s *fakeStore) AccountByEmail(_ context.Context, email domain.Email) (domain.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.accounts {
		if a.Email == email {
			return a, nil
		}
	}
	return domain.Account{}, domain.ErrAccountNotFound
}

func (s *fakeStore) AccountByID(_ context.Context, id string) (domain.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[id]; ok {
		return a, nil
	}
	return domain.Account{}, domain.ErrAccountNotFound
}

func (s *fakeStore) Register(ctx context.Context, email domain.Email, hash string,
	decide func(*domain.Account, time.Time, bool) error,
) (domain.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.accounts {
		if a.Email == email {
			return s.apply(ctx, a, func(acc *domain.Account, now time.Time) error { return decide(acc, now, false) })
		}
	}
	a := domain.Account{ID: s.newID(), Email: email, PasswordHash: hash, Status: domain.StatusPending, CreatedAt: s.now}
	return s.apply(ctx, a, func(acc *domain.Account, now time.Time) error { return decide(acc, now, true) })
}

func (s *fakeStore) newID() string {
	s.nextID++
	return fmt.Sprintf("account-%d", s.nextID)
}

func (s *fakeStore) Update(ctx context.Context, id string, change func(*domain.Account, time.Time) error) (domain.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return domain.Account{}, domain.ErrAccountNotFound
	}
	return s.apply(ctx, a, change)
}

func (s *fakeStore) apply(ctx context.Context, a domain.Account, change func(*domain.Account, time.Time) error) (domain.Account, error) {
	if a.Code != nil {
		c := *a.Code
		a.Code = &c
	}
	mailbox, client := a.Email.Mailbox(), ClientFrom(ctx)
	l, cl := s.ledgers[mailbox], s.clients[client]
	a.Ledger = domain.Ledger{CodesIssued: inWindow(l.CodesIssued, s.now), WrongGuesses: inWindow(l.WrongGuesses, s.now)}
	if client != "" {
		a.Client = domain.Ledger{CodesIssued: inWindow(cl.CodesIssued, s.now), WrongGuesses: inWindow(cl.WrongGuesses, s.now)}
	}
	if err := change(&a, s.now); err != nil {
		return domain.Account{}, err
	}
	for _, e := range a.Events() {
		switch e := e.(type) {
		case domain.CodeIssued:
			l.CodesIssued = append([]time.Time{e.IssuedAt}, l.CodesIssued...)
			cl.CodesIssued = append([]time.Time{e.IssuedAt}, cl.CodesIssued...)
			s.emails = append(s.emails, e)
		case domain.WrongCode:
			l.WrongGuesses = append([]time.Time{e.At}, l.WrongGuesses...)
			cl.WrongGuesses = append([]time.Time{e.At}, cl.WrongGuesses...)
		case domain.AccountReplaced:
			delete(s.accounts, e.ID)
			delete(s.known, e.ID)
			a.ID = s.newID()
		case domain.AccountDeleted:
			delete(s.accounts, e.ID)
			delete(s.known, e.ID)
			s.emails = slices.DeleteFunc(s.emails, func(c domain.CodeIssued) bool { return c.Email == e.Email })
		}
	}
	if a.Deleted() {
		s.ledgers[mailbox] = l
		return a, nil
	}
	s.ledgers[mailbox] = l
	if client != "" {
		s.clients[client] = cl
	}
	// Saved without the issued events, as a store would load it back.
	saved := domain.Account{ID: a.ID, Email: a.Email, PasswordHash: a.PasswordHash, Status: a.Status,
		CreatedAt: a.CreatedAt, ActivatedAt: a.ActivatedAt, Code: a.Code}
	s.accounts[a.ID] = saved
	return a, nil
}

// inWindow is what a store loads of a ledger: the instants of the last 24 h, newest first.
func inWindow(newestFirst []time.Time, now time.Time) []time.Time {
	var out []time.Time
	for _, at := range newestFirst {
		if now.Sub(at) < domain.BudgetWindow {
			out = append(out, at)
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
	for _, a := range s.accounts {
		if at, ok := s.known[a.ID][client]; a.Email == email && ok && s.now.Sub(at) < domain.KnownClientWindow {
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

func (s *fakeStore) SignedIn(_ context.Context, email domain.Email, client, accountID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, f := range s.failures {
		if f.email == email && f.Client == client {
			delete(s.failures, id)
		}
	}
	if s.known[accountID] == nil {
		s.known[accountID] = map[string]time.Time{}
	}
	s.known[accountID][client] = s.now
	return nil
}

func (s *fakeStore) Failed(_ context.Context, attempt int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failures[attempt]
	f.Checked = true
	s.failures[attempt] = f
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

func (s *fakeStore) lastCode(t *testing.T, email domain.Email) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.emails) - 1; i >= 0; i-- {
		if s.emails[i].Email == email {
			return s.emails[i].Code
		}
	}
	t.Fatalf("no code emailed to %s", email)
	return ""
}

// fakeHasher "hashes" by prefixing, and counts verifications; with busy set, it fails as
// a saturated hasher does.
type fakeHasher struct {
	mu       sync.Mutex
	verified []string
	busy     error
}

func (h *fakeHasher) Hash(_ context.Context, p string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy != nil {
		return "", h.busy
	}
	return "hash:" + p, nil
}

func (h *fakeHasher) Verify(_ context.Context, p, encoded string) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy != nil {
		return false, h.busy
	}
	h.verified = append(h.verified, encoded)
	return encoded == "hash:"+p, nil
}

var policy = domain.CodePolicy{TTL: time.Minute, MaxAttempts: 5, ResendInterval: 30 * time.Second, GuessesPerDay: 20, CodesPerDay: 10}

func newService(t *testing.T) (*Service, *fakeStore, *fakeHasher) {
	t.Helper()
	store, hasher := newFakeStore(), &fakeHasher{}
	svc, err := NewService(store, hasher, policy, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return svc, store, hasher
}

func TestRegister(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t)

	acc, err := svc.Register(ctx, " Alice@Example.com ", "correct horse")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if acc.Email != "alice@example.com" || acc.Status != domain.StatusPending || acc.PasswordHash != "hash:correct horse" {
		t.Fatalf("registered account = %+v", acc)
	}
	if len(store.emails) != 1 {
		t.Fatalf("emails queued = %d, want 1", len(store.emails))
	}

	var verr *domain.ValidationError
	if _, err := svc.Register(ctx, "nope", "short"); !errors.As(err, &verr) || len(verr.Fields) != 2 {
		t.Fatalf("invalid registration: got %v, want ValidationError on 2 fields", err)
	}

	var retry *domain.RetryLaterError
	if _, err := svc.Register(ctx, "alice@example.com", "another secret"); !asRetry(err, &retry, domain.ReasonResendInterval) {
		t.Fatalf("re-register inside resend interval: got %v, want RetryLaterError", err)
	}
	store.advance(policy.ResendInterval)
	again, err := svc.Register(ctx, "alice@example.com", "another secret")
	if err != nil || again.ID == acc.ID || again.PasswordHash != "hash:another secret" {
		t.Fatalf("takeover of pending account: %+v, %v; want a new account (a new id)", again, err)
	}
	if _, err := store.AccountByID(ctx, acc.ID); !errors.Is(err, domain.ErrAccountNotFound) {
		t.Fatalf("the replaced account %s: %v, want it gone", acc.ID, err)
	}
	if len(store.emails) != 2 {
		t.Fatalf("emails queued = %d, want 2", len(store.emails))
	}

	who, err := svc.Authenticate(ctx, "alice@example.com", "another secret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Activate(ctx, who, store.lastCode(t, "alice@example.com")); err != nil {
		t.Fatalf("activate: %v", err)
	}
	store.advance(time.Hour)
	if _, err := svc.Register(ctx, "ALICE@example.com", "third secret"); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("register over active account: got %v, want ErrEmailTaken", err)
	}
}

func TestAuthenticateCostsAHashEitherWay(t *testing.T) {
	ctx := context.Background()
	svc, _, hasher := newService(t)
	if _, err := svc.Register(ctx, "bob@example.com", "bobs password"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		email, password string
		hashes          int
	}{
		{"nobody@example.com", "whatever1", 1},
		{"bob@example.com", "wrong password", 1},
		// Nothing about any account depends on what is not an email: no hash.
		{"", "", 0},
		{"not-an-email", "x", 0},
	} {
		before := len(hasher.verified)
		if _, err := svc.Authenticate(ctx, tc.email, tc.password); !errors.Is(err, domain.ErrUnauthorized) {
			t.Errorf("Authenticate(%q): got %v, want ErrUnauthorized", tc.email, err)
		}
		if got := len(hasher.verified) - before; got != tc.hashes {
			t.Errorf("Authenticate(%q) verified %d hashes, want %d (a known and an unknown email alike)", tc.email, got, tc.hashes)
		}
	}
	acc, err := svc.Authenticate(ctx, " BOB@example.com", "bobs password")
	if err != nil || acc.Email != "bob@example.com" {
		t.Fatalf("Authenticate = %+v, %v", acc, err)
	}
}

func TestActivate(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t)
	if _, err := svc.Register(ctx, "carol@example.com", "carols password"); err != nil {
		t.Fatal(err)
	}
	who, err := svc.Authenticate(ctx, "carol@example.com", "carols password")
	if err != nil {
		t.Fatal(err)
	}
	code := store.lastCode(t, "carol@example.com")
	wrong := "0000"
	if code == wrong {
		wrong = "0001"
	}

	var verr *domain.ValidationError
	for _, bad := range []string{"", "123", "12345", "abcd", "12 4"} {
		if _, err := svc.Activate(ctx, who, bad); !errors.As(err, &verr) {
			t.Errorf("Activate(%q): got %v, want ValidationError", bad, err)
		}
	}

	var invalid *domain.InvalidCodeError
	if _, err := svc.Activate(ctx, who, wrong); !errors.As(err, &invalid) || invalid.AttemptsRemaining != 4 {
		t.Fatalf("wrong code: got %v, want InvalidCodeError with 4 remaining", err)
	}
	if got := store.accounts[who.ID].Code.FailedAttempts; got != 1 {
		t.Fatalf("failed attempts saved = %d, want 1: a wrong guess must be saved", got)
	}
	if _, err := svc.Activate(ctx, who, wrong); !errors.As(err, &invalid) || invalid.AttemptsRemaining != 3 {
		t.Fatalf("second wrong code: got %v, want 3 remaining", err)
	}

	acc, err := svc.Activate(ctx, who, code)
	if err != nil || acc.Status != domain.StatusActive {
		t.Fatalf("activate: %+v, %v", acc, err)
	}
	if _, err := svc.Activate(ctx, who, code); !errors.Is(err, domain.ErrAlreadyActive) {
		t.Fatalf("activate twice: got %v, want ErrAlreadyActive", err)
	}
	if _, err := svc.Resend(ctx, who); !errors.Is(err, domain.ErrAlreadyActive) {
		t.Fatalf("resend to active: got %v, want ErrAlreadyActive", err)
	}
}

func TestActivateRefusesCredentialsOfATakenOverAccount(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t)
	if _, err := svc.Register(ctx, "dan@example.com", "stranger password"); err != nil {
		t.Fatal(err)
	}
	stranger, err := svc.Authenticate(ctx, "dan@example.com", "stranger password")
	if err != nil {
		t.Fatal(err)
	}
	store.advance(policy.ResendInterval)
	if _, err := svc.Register(ctx, "dan@example.com", "owner password"); err != nil {
		t.Fatal(err)
	}
	code := store.lastCode(t, "dan@example.com")
	// The stranger's account is gone (the takeover is a new account): both are a 401.
	if _, err := svc.Activate(ctx, stranger, code); !errors.Is(err, domain.ErrUnauthorized) && !errors.Is(err, domain.ErrAccountNotFound) {
		t.Fatalf("activation with the replaced password: got %v, want ErrUnauthorized or ErrAccountNotFound", err)
	}
	if _, err := svc.Resend(ctx, stranger); !errors.Is(err, domain.ErrUnauthorized) && !errors.Is(err, domain.ErrAccountNotFound) {
		t.Fatalf("resend with the replaced password: got %v, want ErrUnauthorized or ErrAccountNotFound", err)
	}
}

func TestResend(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t)
	if _, err := svc.Register(ctx, "erin@example.com", "erins password"); err != nil {
		t.Fatal(err)
	}
	who, err := svc.Authenticate(ctx, "erin@example.com", "erins password")
	if err != nil {
		t.Fatal(err)
	}
	var retry *domain.RetryLaterError
	if _, err := svc.Resend(ctx, who); !asRetry(err, &retry, domain.ReasonResendInterval) || retry.RetryAfter != policy.ResendInterval {
		t.Fatalf("resend at once: got %v, want RetryLaterError of %s", err, policy.ResendInterval)
	}
	store.advance(policy.ResendInterval)
	sent, err := svc.Resend(ctx, who)
	if err != nil {
		t.Fatalf("resend: %v", err)
	}
	if want := store.now.Add(policy.ResendInterval); !sent.ResendAfter.Equal(want) {
		t.Fatalf("resend after = %v, want %v", sent.ResendAfter, want)
	}
	if want := store.now.Add(policy.TTL); !sent.ExpiresAt.Equal(want) {
		t.Fatalf("expires at = %v, want %v", sent.ExpiresAt, want)
	}
	if len(store.emails) != 2 {
		t.Fatalf("emails = %d, want 2", len(store.emails))
	}
}

// TestGuessBudgetOutlivesResendsAndReregistrations plays the attacker of issue 7 on the
// store's clock: wrong codes, new codes by resend and by re-registration, as fast as the
// resend interval allows. The address takes ACTIVATION_GUESSES_PER_DAY wrong codes in
// all, then every activation answers GuessBudgetError until the first guess is 24 h old.
func TestGuessBudgetOutlivesResendsAndReregistrations(t *testing.T) {
	ctx := context.Background()
	p := domain.CodePolicy{TTL: time.Minute, MaxAttempts: 5, ResendInterval: 30 * time.Second, GuessesPerDay: 20, CodesPerDay: 100}
	store, hasher := newFakeStore(), &fakeHasher{}
	svc, err := NewService(store, hasher, p, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const email = "victim@example.com"
	start := store.now
	if _, err := svc.Register(ctx, email, "attacker pass 0"); err != nil {
		t.Fatal(err)
	}
	password := "attacker pass 0"
	wrong := 0
	for round := 1; wrong < p.GuessesPerDay; round++ {
		who, err := svc.Authenticate(ctx, email, password)
		if err != nil {
			t.Fatal(err)
		}
		guess := "0000"
		if store.lastCode(t, email) == guess {
			guess = "0001"
		}
		for range p.MaxAttempts {
			_, err := svc.Activate(ctx, who, guess)
			var invalid *domain.InvalidCodeError
			if !errors.As(err, &invalid) {
				t.Fatalf("wrong guess %d: got %v, want InvalidCodeError", wrong+1, err)
			}
			wrong++
			if wrong == p.GuessesPerDay {
				break
			}
		}
		store.advance(p.ResendInterval)
		if round%2 == 0 { // alternate a resend and a takeover by re-registration
			if _, err := svc.Resend(ctx, who); err != nil {
				t.Fatalf("resend: %v", err)
			}
		} else {
			password = "attacker pass " + string(rune('a'+round))
			if _, err := svc.Register(ctx, email, password); err != nil {
				t.Fatalf("re-register: %v", err)
			}
		}
	}

	who, err := svc.Authenticate(ctx, email, password)
	if err != nil {
		t.Fatal(err)
	}
	var spent *domain.RetryLaterError
	if _, err := svc.Activate(ctx, who, store.lastCode(t, email)); !asRetry(err, &spent, domain.ReasonGuessBudget) {
		t.Fatalf("the right code after %d wrong ones: got %v, want GuessBudgetError", wrong, err)
	}
	// The first wrong guess was at start: the budget frees up 24 h after it.
	if want := start.Add(domain.BudgetWindow).Sub(store.now); spent.RetryAfter != want {
		t.Fatalf("RetryAfter = %v, want %v", spent.RetryAfter, want)
	}

	// The owner waits as told, asks for a new code and activates with one guess.
	store.advance(spent.RetryAfter)
	if _, err := svc.Register(ctx, email, "owner password"); err != nil {
		t.Fatalf("owner registers: %v", err)
	}
	owner, err := svc.Authenticate(ctx, email, "owner password")
	if err != nil {
		t.Fatal(err)
	}
	if acc, err := svc.Activate(ctx, owner, store.lastCode(t, email)); err != nil || acc.Status != domain.StatusActive {
		t.Fatalf("owner activates after the wait: %+v, %v", acc, err)
	}
}

func TestCodeBudgetCountsRegistrationsAndResends(t *testing.T) {
	ctx := context.Background()
	p := domain.CodePolicy{TTL: time.Minute, MaxAttempts: 5, ResendInterval: 30 * time.Second, GuessesPerDay: 20, CodesPerDay: 3}
	store, hasher := newFakeStore(), &fakeHasher{}
	svc, err := NewService(store, hasher, p, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const email = "frank@example.com"
	if _, err := svc.Register(ctx, email, "franks password"); err != nil {
		t.Fatal(err)
	}
	store.advance(p.ResendInterval)
	if _, err := svc.Register(ctx, email, "franks password"); err != nil {
		t.Fatal(err)
	}
	who, err := svc.Authenticate(ctx, email, "franks password")
	if err != nil {
		t.Fatal(err)
	}
	store.advance(p.ResendInterval)
	if _, err := svc.Resend(ctx, who); err != nil {
		t.Fatal(err)
	}
	store.advance(p.ResendInterval)
	var budget *domain.RetryLaterError
	if _, err := svc.Resend(ctx, who); !asRetry(err, &budget, domain.ReasonCodeBudget) {
		t.Fatalf("4th code by resend: got %v, want CodeBudgetError", err)
	}
	if _, err := svc.Register(ctx, email, "franks password"); !asRetry(err, &budget, domain.ReasonCodeBudget) {
		t.Fatalf("4th code by re-registration: got %v, want CodeBudgetError", err)
	}
	if len(store.emails) != 3 {
		t.Fatalf("%d emails queued, want 3: a refused code sends nothing", len(store.emails))
	}
}

func TestASaturatedHasherFailsKnownAndUnknownEmailsAlike(t *testing.T) {
	ctx := context.Background()
	svc, _, hasher := newService(t)
	if _, err := svc.Register(ctx, "gina@example.com", "ginas password"); err != nil {
		t.Fatal(err)
	}
	busy := errors.New("saturated")
	hasher.busy = busy
	for _, email := range []string{"gina@example.com", "nobody@example.com"} {
		if _, err := svc.Authenticate(ctx, email, "ginas password"); !errors.Is(err, busy) {
			t.Errorf("Authenticate(%q) with the hasher saturated: got %v, want the hasher's error", email, err)
		}
	}
	if _, err := svc.Authenticate(ctx, "", "ginas password"); !errors.Is(err, domain.ErrUnauthorized) {
		t.Errorf("Authenticate without an email with the hasher saturated: got %v, want ErrUnauthorized (no hash)", err)
	}
	if _, err := svc.Register(ctx, "hank@example.com", "hanks password"); !errors.Is(err, busy) {
		t.Errorf("Register with the hasher saturated: got %v, want the hasher's error", err)
	}
}

// asRetry is errors.As for a *domain.RetryLaterError of reason.
func asRetry(err error, target **domain.RetryLaterError, reason domain.Reason) bool {
	return errors.As(err, target) && (*target).Reason == reason
}

// fakeStrength calls the passwords of weak weak, and records what it was asked.
type fakeStrength struct {
	weak  map[string]bool
	asked [][]string // the user inputs of each call
}

func (f *fakeStrength) Weak(password string, userInputs []string) bool {
	f.asked = append(f.asked, userInputs)
	return f.weak[password]
}

func TestRegisterRefusesAWeakPasswordWithEveryBadField(t *testing.T) {
	ctx := context.Background()
	strength := &fakeStrength{weak: map[string]bool{"guessable one": true}}
	store := newFakeStore()
	svc, err := NewService(store, &fakeHasher{}, policy, rand.Reader, WithPasswordStrength(strength))
	if err != nil {
		t.Fatal(err)
	}
	const tooEasy = "is too easy to guess; add words or characters"
	field := func(name, message string) domain.FieldError { return domain.FieldError{Field: name, Message: message} }
	for _, tc := range []struct {
		email, password string
		want            []domain.FieldError
		wantAsked       []string // the user inputs the strength was asked with; nil: not asked
	}{
		{"alice@example.com", "guessable one", []domain.FieldError{field("password", tooEasy)}, []string{"alice@example.com"}},
		{"not-an-email", "guessable one", []domain.FieldError{
			field("email", "must be a valid email address"), field("password", tooEasy),
		}, []string{}},
		// A password the domain refuses is not judged again: one message per field.
		{"not-an-email", "short", []domain.FieldError{
			field("email", "must be a valid email address"), field("password", "must be at least 8 characters"),
		}, nil},
		{"not-an-email", "hard to guess", []domain.FieldError{field("email", "must be a valid email address")}, []string{}},
	} {
		strength.asked = nil
		_, err := svc.Register(ctx, tc.email, tc.password)
		var verr *domain.ValidationError
		if !errors.As(err, &verr) {
			t.Fatalf("Register(%q, %q) = %v, want *domain.ValidationError", tc.email, tc.password, err)
		}
		if !slices.Equal(verr.Fields, tc.want) {
			t.Errorf("Register(%q, %q) fields = %v, want %v", tc.email, tc.password, verr.Fields, tc.want)
		}
		switch {
		case tc.wantAsked == nil && len(strength.asked) != 0:
			t.Errorf("Register(%q, %q) asked the strength %v, want not at all", tc.email, tc.password, strength.asked)
		case tc.wantAsked != nil && (len(strength.asked) != 1 || !slices.Equal(strength.asked[0], tc.wantAsked)):
			t.Errorf("Register(%q, %q) asked the strength %q, want once with %q", tc.email, tc.password, strength.asked, tc.wantAsked)
		}
	}
	if _, err := store.AccountByEmail(ctx, "alice@example.com"); !errors.Is(err, domain.ErrAccountNotFound) {
		t.Fatalf("a refused registration left an account: %v", err)
	}
	strength.asked = nil
	if _, err := svc.Register(ctx, " Alice@Example.com", "hard to guess"); err != nil {
		t.Fatalf("a password the strength accepts: %v", err)
	}
	if len(strength.asked) != 1 || !slices.Equal(strength.asked[0], []string{"alice@example.com"}) {
		t.Errorf("the strength was asked %q, want once with the normalised email", strength.asked)
	}
}
