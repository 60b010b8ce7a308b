package identity

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/config"
)

func moduleEnv(m map[string]string) config.ModuleEnv {
	return config.NewModuleEnv(func(k string) string { return m[k] })
}

func TestSettingsDefaults(t *testing.T) {
	s, err := LoadSettings(moduleEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		Codes: domain.CodePolicy{TTL: time.Minute, MaxAttempts: 5, ResendInterval: 30 * time.Second, GuessesPerDay: 20, CodesPerDay: 10,
			ClientGuessesPerDay: 50, ClientCodesPerDay: 100},
		SignIn:   domain.SignInPolicy{FailuresBeforeDelay: 10},
		Sessions: domain.SessionPolicy{IdleTimeout: 24 * time.Hour, MaxAge: 720 * time.Hour, PerAccount: 50},
		Resets: domain.ResetPolicy{TTL: 15 * time.Minute, ResendInterval: time.Minute, MaxAttempts: 5, GuessesPerDay: 20, ResetsPerDay: 5,
			ClientGuessesPerDay: 50, ClientCodesPerDay: 100},
		EmailChange: domain.EmailChangePolicy{TTL: 15 * time.Minute, MaxAttempts: 5, CodesPerDay: 10, GuessesPerDay: 20,
			ClientCodesPerDay: 100, ClientGuessesPerDay: 50},
		PasswordHash: PasswordHash{MemoryKiB: 19456, Iterations: 2, Parallelism: 1,
			Concurrency: runtime.GOMAXPROCS(0), QueueTimeout: time.Second, QueueLength: 32 * runtime.GOMAXPROCS(0)},
		PendingAccountRetention: 168 * time.Hour,
		AuditRetention:          2160 * time.Hour,
		NotifyNewClientSignIn:   true,
	}
	if s != want {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
}

func TestSettingsAreRead(t *testing.T) {
	s, err := LoadSettings(moduleEnv(map[string]string{
		"ACTIVATION_CODE_TTL": "90s", "ACTIVATION_CODE_MAX_ATTEMPTS": "3", "ACTIVATION_CODE_RESEND_INTERVAL": "10s",
		"ACTIVATION_GUESSES_PER_DAY": "3", "ACTIVATION_CODES_PER_DAY": "4",
		"ACTIVATION_GUESSES_PER_CLIENT_PER_DAY": "0", "CODES_PER_CLIENT_PER_DAY": "7", "PASSWORD_FAILURES_BEFORE_DELAY": "5",
		"SESSION_IDLE_TIMEOUT": "30m", "SESSION_MAX_AGE": "12h", "SESSIONS_PER_ACCOUNT": "3",
		"PASSWORD_RESET_CODE_TTL": "10m", "PASSWORD_RESET_RESEND_INTERVAL": "2m", "PASSWORD_RESETS_PER_DAY": "4",
		"PASSWORD_HASH_MEMORY_KIB": "1024", "PASSWORD_HASH_ITERATIONS": "1", "PASSWORD_HASH_PARALLELISM": "2",
		"PASSWORD_HASH_CONCURRENCY": "7", "PASSWORD_HASH_QUEUE_TIMEOUT": "250ms", "PENDING_ACCOUNT_RETENTION": "0",
		"AUDIT_RETENTION": "720h", "NOTIFY_NEW_CLIENT_SIGN_IN": "false", "EMAIL_CHANGE_CODE_TTL": "5m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if q, err := LoadSettings(moduleEnv(map[string]string{"PASSWORD_HASH_QUEUE_LENGTH": "0"})); err != nil || q.PasswordHash.QueueLength != 0 {
		t.Fatalf("PASSWORD_HASH_QUEUE_LENGTH=0: %d, %v; want 0 (no queue)", q.PasswordHash.QueueLength, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		Codes: domain.CodePolicy{TTL: 90 * time.Second, MaxAttempts: 3, ResendInterval: 10 * time.Second, GuessesPerDay: 3, CodesPerDay: 4,
			ClientGuessesPerDay: 0, ClientCodesPerDay: 7},
		SignIn:   domain.SignInPolicy{FailuresBeforeDelay: 5},
		Sessions: domain.SessionPolicy{IdleTimeout: 30 * time.Minute, MaxAge: 12 * time.Hour, PerAccount: 3},
		Resets: domain.ResetPolicy{TTL: 10 * time.Minute, ResendInterval: 2 * time.Minute, MaxAttempts: 5, GuessesPerDay: 20, ResetsPerDay: 4,
			ClientGuessesPerDay: 0, ClientCodesPerDay: 7},
		EmailChange: domain.EmailChangePolicy{TTL: 5 * time.Minute, MaxAttempts: 5, CodesPerDay: 4, GuessesPerDay: 3,
			ClientCodesPerDay: 7, ClientGuessesPerDay: 0},
		PasswordHash: PasswordHash{MemoryKiB: 1024, Iterations: 1, Parallelism: 2,
			Concurrency: 7, QueueTimeout: 250 * time.Millisecond, QueueLength: 56}, // 7 × 0.25 s × 32
		AuditRetention: 720 * time.Hour,
	}
	if s != want {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
}

func TestBadSettingsFailNamingTheVariable(t *testing.T) {
	bad := map[string]string{
		"ACTIVATION_CODE_TTL":             "soon",
		"ACTIVATION_CODE_MAX_ATTEMPTS":    "0",
		"ACTIVATION_CODE_RESEND_INTERVAL": "-1s",
		"ACTIVATION_GUESSES_PER_DAY":      "0",
		"ACTIVATION_CODES_PER_DAY":        "many",
		"PASSWORD_FAILURES_BEFORE_DELAY":  "101",
		"PASSWORD_HASH_ITERATIONS":        "two",
		"PASSWORD_HASH_CONCURRENCY":       "0",
		"PASSWORD_HASH_QUEUE_TIMEOUT":     "1",
		"PASSWORD_HASH_QUEUE_LENGTH":      "-1",
		"SESSION_IDLE_TIMEOUT":            "0s",
		"SESSIONS_PER_ACCOUNT":            "0",
		"PASSWORD_RESET_CODE_TTL":         "soon",
		"EMAIL_CHANGE_CODE_TTL":           "0s",
		"PASSWORD_RESETS_PER_DAY":         "0",
		"PENDING_ACCOUNT_RETENTION":       "-1h",
		"PASSWORD_HASH_PARALLELISM":       "300",
	}
	for name, value := range bad {
		_, err := LoadSettings(moduleEnv(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: got %v, want an error naming %s", name, value, err, name)
		}
	}
	_, err := LoadSettings(moduleEnv(bad))
	for name := range bad {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("all bad at once: %v does not name %s", err, name)
		}
	}
	_, err = LoadSettings(moduleEnv(map[string]string{"PASSWORD_HASH_MEMORY_KIB": "8", "PASSWORD_HASH_PARALLELISM": "2"}))
	if err == nil || !strings.Contains(err.Error(), "PASSWORD_HASH_MEMORY_KIB") {
		t.Errorf("8 KiB for parallelism 2: got %v", err)
	}
}
