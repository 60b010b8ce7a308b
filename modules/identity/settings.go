package identity

import (
	"fmt"
	"runtime"
	"time"

	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/config"
)

// Settings are identity's own variables (README.md's table): the activation codes, the
// password hashing and the retention of pending accounts.
type Settings struct {
	Codes    domain.CodePolicy
	SignIn   domain.SignInPolicy
	Sessions domain.SessionPolicy
	Resets   domain.ResetPolicy
	// EmailChange: EMAIL_CHANGE_CODE_TTL, with activation's budgets (see LoadSettings).
	EmailChange  domain.EmailChangePolicy
	PasswordHash PasswordHash
	// PendingAccountRetention: pending accounts whose latest code is older are deleted;
	// 0 keeps them.
	PendingAccountRetention time.Duration
	// AuditRetention: account events (the audit trail) older than this are deleted.
	AuditRetention time.Duration
	// NotifyNewClientSignIn emails an account that signs in from a client it does not
	// know (NOTIFY_NEW_CLIENT_SIGN_IN).
	NotifyNewClientSignIn bool
	// WebhookAllowPrivate lets webhook endpoints be http and resolve to loopback, private
	// and link-local addresses (WEBHOOK_ALLOW_PRIVATE).
	WebhookAllowPrivate bool
}

// PasswordHash holds the argon2id parameters and the bound on hashes run at once.
type PasswordHash struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	// Concurrency is how many hashes and verifications run at once.
	Concurrency int
	// QueueTimeout is the longest wait for a hashing slot.
	QueueTimeout time.Duration
	// QueueLength is how many requests may wait for a slot at once; past it, 503 at once.
	QueueLength int
}

// queuePerSlotSecond is how many hashes one slot completes in a second, with margin:
// argon2id at the defaults takes about 27 ms of CPU here (37 a second), a verification
// as much, and the garbage collector takes its share. A request queued behind more than
// Concurrency × QueueTimeout × this would wait out the timeout and get 503 anyway,
// holding its connection and memory meanwhile: the default queue is that long and no
// longer (docs/decisions.md, "The hashing queue").
const queuePerSlotSecond = 32

// LoadSettings reads identity's variables from env, reporting every bad one at once,
// each named.
func LoadSettings(env config.ModuleEnv) (Settings, error) {
	s := env.Settings()
	set := Settings{
		Codes: domain.CodePolicy{
			TTL:            s.Duration("ACTIVATION_CODE_TTL", 60*time.Second),
			MaxAttempts:    s.Int("ACTIVATION_CODE_MAX_ATTEMPTS", 5, 1, 1000),
			ResendInterval: s.Duration("ACTIVATION_CODE_RESEND_INTERVAL", 30*time.Second),
			GuessesPerDay:  s.Int("ACTIVATION_GUESSES_PER_DAY", 20, 1, 100000),
			CodesPerDay:    s.Int("ACTIVATION_CODES_PER_DAY", 10, 1, 100000),
			// 0 disables each; the contract's defaults.
			ClientGuessesPerDay: s.Int("ACTIVATION_GUESSES_PER_CLIENT_PER_DAY", 50, 0, 1000000),
			ClientCodesPerDay:   s.Int("CODES_PER_CLIENT_PER_DAY", 100, 0, 1000000),
		},
		SignIn: domain.SignInPolicy{
			// At most domain.MaxFailures: past it every attempt waits anyway.
			FailuresBeforeDelay: s.Int("PASSWORD_FAILURES_BEFORE_DELAY", 10, 1, domain.MaxFailures),
		},
		Resets: domain.ResetPolicy{
			TTL:            s.Duration("PASSWORD_RESET_CODE_TTL", 15*time.Minute),
			ResendInterval: s.Duration("PASSWORD_RESET_RESEND_INTERVAL", 60*time.Second),
			ResetsPerDay:   s.Int("PASSWORD_RESETS_PER_DAY", 5, 1, 100000),
			// The contract's: 5 wrong guesses a code, 20 a mailbox a day.
			MaxAttempts:   5,
			GuessesPerDay: 20,
		},
		EmailChange: domain.EmailChangePolicy{
			TTL: s.Duration("EMAIL_CHANGE_CODE_TTL", 15*time.Minute),
			// The contract's: 5 wrong guesses a code.
			MaxAttempts: 5,
		},
		Sessions: domain.SessionPolicy{
			IdleTimeout: s.Duration("SESSION_IDLE_TIMEOUT", 24*time.Hour),
			MaxAge:      s.Duration("SESSION_MAX_AGE", 720*time.Hour),
			PerAccount:  s.Int("SESSIONS_PER_ACCOUNT", 50, 1, 10000),
		},
		PasswordHash: PasswordHash{
			MemoryKiB:   uint32(s.Int("PASSWORD_HASH_MEMORY_KIB", 19456, 8, 4<<20)), //nolint:gosec // Int bounds it
			Iterations:  uint32(s.Int("PASSWORD_HASH_ITERATIONS", 2, 1, 100)),       //nolint:gosec // Int bounds it
			Parallelism: uint8(s.Int("PASSWORD_HASH_PARALLELISM", 1, 1, 255)),       //nolint:gosec // Int bounds it
			// GOMAXPROCS: the CPUs this process may use (it follows the cgroup's CPU limit).
			Concurrency:  s.Int("PASSWORD_HASH_CONCURRENCY", runtime.GOMAXPROCS(0), 1, 1024),
			QueueTimeout: s.Duration("PASSWORD_HASH_QUEUE_TIMEOUT", time.Second),
		},
		PendingAccountRetention: s.DurationOrZero("PENDING_ACCOUNT_RETENTION", 168*time.Hour),
		AuditRetention:          s.Duration("AUDIT_RETENTION", 2160*time.Hour),
		NotifyNewClientSignIn:   s.Bool("NOTIFY_NEW_CLIENT_SIGN_IN", true),
		WebhookAllowPrivate:     s.Bool("WEBHOOK_ALLOW_PRIVATE", false),
	}
	// The client's budgets are shared by every code purpose.
	set.Resets.ClientGuessesPerDay, set.Resets.ClientCodesPerDay = set.Codes.ClientGuessesPerDay, set.Codes.ClientCodesPerDay
	// An email-change code proves a mailbox as an activation code does: it spends the new
	// address's mailbox's activation budgets (docs/decisions.md, "Email change").
	ec := &set.EmailChange
	ec.CodesPerDay, ec.GuessesPerDay = set.Codes.CodesPerDay, set.Codes.GuessesPerDay
	ec.ClientGuessesPerDay, ec.ClientCodesPerDay = set.Codes.ClientGuessesPerDay, set.Codes.ClientCodesPerDay
	ph := &set.PasswordHash
	ph.QueueLength = s.Int("PASSWORD_HASH_QUEUE_LENGTH", defaultQueueLength(ph.Concurrency, ph.QueueTimeout), 0, 1000000)
	if set.PasswordHash.MemoryKiB < 8*uint32(set.PasswordHash.Parallelism) {
		s.Fail("PASSWORD_HASH_MEMORY_KIB", "must be at least 8 KiB per unit of PASSWORD_HASH_PARALLELISM")
	}
	if err := s.Err(); err != nil {
		return Settings{}, fmt.Errorf("identity settings: %w", err)
	}
	return set, nil
}

// defaultQueueLength is the queue a hashing gate of concurrency slots can serve within
// timeout (queuePerSlotSecond), at least one per slot: 64 with 2 CPUs and the default 1 s.
func defaultQueueLength(concurrency int, timeout time.Duration) int {
	return max(int(float64(concurrency)*timeout.Seconds()*queuePerSlotSecond), concurrency)
}
