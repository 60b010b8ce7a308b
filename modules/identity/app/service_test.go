package app

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// fakeHasher "hashes" by prefixing the password with its parameters ("hash:" unless
// params is set), and counts hashes and verifications; with busy set, it fails as a
// saturated hasher does.
type fakeHasher struct {
	mu       sync.Mutex
	params   string
	hashed   int
	verified []string
	busy     error
}

func (h *fakeHasher) prefix() string {
	if h.params == "" {
		return "hash:"
	}
	return h.params + ":"
}

func (h *fakeHasher) Hash(_ context.Context, p string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy != nil {
		return "", h.busy
	}
	h.hashed++
	return h.prefix() + p, nil
}

func (h *fakeHasher) Verify(_ context.Context, p, encoded string) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy != nil {
		return false, h.busy
	}
	h.verified = append(h.verified, encoded)
	_, plain, ok := strings.Cut(encoded, ":")
	return ok && plain == p, nil
}

func (h *fakeHasher) NeedsRehash(encoded string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !strings.HasPrefix(encoded, h.prefix())
}

// hashes is how many hashes (not verifications) the hasher made.
func (h *fakeHasher) hashes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hashed
}

var policy = domain.CodePolicy{TTL: time.Minute, MaxAttempts: 5, ResendInterval: 30 * time.Second, GuessesPerDay: 20, CodesPerDay: 10}

// edge calls the use cases as the HTTP adapter does: it parses raw strings at the edge
// into the domain's values (a malformed one is a *domain.ValidationError, or for Basic
// credentials domain.ErrUnauthorized) and hands the use case those.
type edge struct{ *Service }

func (e edge) Register(ctx context.Context, rawEmail, rawPassword string) (domain.Account, error) {
	email, password, err := domain.ParseRegistration(rawEmail, rawPassword)
	if err != nil {
		return domain.Account{}, err
	}
	return e.Service.Register(ctx, email, password)
}

func (e edge) Authenticate(ctx context.Context, rawEmail, password string) (domain.Account, error) {
	email, msg := domain.ParseEmail(rawEmail)
	if msg != "" {
		return domain.Account{}, domain.ErrUnauthorized
	}
	return e.Service.Authenticate(ctx, email, password)
}

func (e edge) Activate(ctx context.Context, who domain.Account, raw string) (domain.Account, error) {
	code, msg := domain.ParseActivationCode(raw)
	if msg != "" {
		return domain.Account{}, invalid("code", msg)
	}
	return e.Service.Activate(ctx, who, code)
}

func (e edge) ChangePassword(ctx context.Context, who domain.Account, raw string) error {
	password, msg := domain.ParsePassword(raw, who.Email)
	if msg != "" {
		return invalid("password", msg)
	}
	return e.Service.ChangePassword(ctx, who, password)
}

func (e edge) RequestReset(ctx context.Context, raw string) error {
	email, msg := domain.ParseEmail(raw)
	if msg != "" {
		return invalid("email", msg)
	}
	return e.Service.RequestReset(ctx, email)
}

func (e edge) ConfirmReset(ctx context.Context, rawEmail, rawCode, rawPassword string) error {
	email, msg := domain.ParseEmail(rawEmail)
	if msg != "" {
		return invalid("email", msg)
	}
	code, msg := domain.ParseResetCode(rawCode)
	if msg != "" {
		return invalid("code", msg)
	}
	password, msg := domain.ParsePassword(rawPassword, email)
	if msg != "" {
		return invalid("password", msg)
	}
	return e.Service.ConfirmReset(ctx, email, code, password)
}

func invalid(field, msg string) error {
	var verr domain.ValidationError
	verr.Add(field, msg)
	return &verr
}

// newEdge is the use cases over store and hasher, called as the HTTP adapter does.
func newEdge(t *testing.T, store Store, hasher PasswordHasher, p domain.CodePolicy, opts ...Option) edge {
	t.Helper()
	svc, err := NewService(store, hasher, p, rand.Reader, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return edge{svc}
}

func newService(t *testing.T) (edge, *fakeStore, *fakeHasher) {
	t.Helper()
	store, hasher := newFakeStore(), &fakeHasher{}
	return newEdge(t, store, hasher, policy), store, hasher
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
	svc := newEdge(t, store, hasher, p)
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
	svc := newEdge(t, store, hasher, p)
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
	asked []domain.Email // the email of each call
}

func (f *fakeStrength) Weak(password domain.Password, email domain.Email) bool {
	f.asked = append(f.asked, email)
	return f.weak[password.Plain()]
}

func TestRegisterRefusesAWeakPasswordWithEveryBadField(t *testing.T) {
	ctx := context.Background()
	strength := &fakeStrength{weak: map[string]bool{"guessable one": true}}
	store := newFakeStore()
	svc := newEdge(t, store, &fakeHasher{}, policy, WithPasswordStrength(strength))
	const tooEasy = "is too easy to guess; add words or characters"
	field := func(name, message string) domain.FieldError { return domain.FieldError{Field: name, Message: message} }
	for _, tc := range []struct {
		email, password string
		want            []domain.FieldError
		wantAsked       []domain.Email // the emails the strength was asked with; nil: not asked
	}{
		{"alice@example.com", "guessable one", []domain.FieldError{field("password", tooEasy)}, []domain.Email{"alice@example.com"}},
		// The edge's rules come first, and list every field they refuse; how guessable a
		// password is, is judged once the request is well-formed.
		{"not-an-email", "guessable one", []domain.FieldError{field("email", "must be a valid email address")}, nil},
		{"not-an-email", "short", []domain.FieldError{
			field("email", "must be a valid email address"), field("password", "must be at least 8 characters"),
		}, nil},
		{"alice@example.com", "short", []domain.FieldError{field("password", "must be at least 8 characters")}, nil},
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
		case tc.wantAsked != nil && !slices.Equal(strength.asked, tc.wantAsked):
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
	if len(strength.asked) != 1 || strength.asked[0] != "alice@example.com" {
		t.Errorf("the strength was asked %q, want once with the normalised email", strength.asked)
	}
}
