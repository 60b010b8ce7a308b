package domain

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"math/big"
	"time"
)

// CodePolicy sets how activation codes behave (ACTIVATION_CODE_* configuration).
type CodePolicy struct {
	// TTL is how long a code may be used after it is issued.
	TTL time.Duration
	// MaxAttempts is how many wrong guesses one code accepts.
	MaxAttempts int
	// ResendInterval is the least time between two codes issued to one account.
	ResendInterval time.Duration
	// GuessesPerDay is how many wrong codes one email address may send in any
	// BudgetWindow, across all its codes, resends and re-registrations.
	GuessesPerDay int
	// CodesPerDay is how many codes may be issued to one email address in any
	// BudgetWindow, registrations, re-registrations and resends alike.
	CodesPerDay int
	// ClientGuessesPerDay is how many wrong codes one client may send in any
	// BudgetWindow, across every address; 0 is no limit.
	ClientGuessesPerDay int
	// ClientCodesPerDay is how many codes may be issued at one client's request in any
	// BudgetWindow, across every address; 0 is no limit.
	ClientCodesPerDay int
}

// ActivationCode is the latest code issued to an account.
type ActivationCode struct {
	Value          string
	IssuedAt       time.Time
	ExpiresAt      time.Time
	FailedAttempts int
}

// activationCodeLength is the number of digits of an activation code.
const activationCodeLength = 4

// NewCodeValue draws four digits uniformly from 0000-9999 using random, which must be a
// cryptographic source (crypto/rand.Reader in production).
func NewCodeValue(random io.Reader) (string, error) {
	v, err := drawDigits(random, activationCodeLength)
	if err != nil {
		return "", fmt.Errorf("draw activation code: %w", err)
	}
	return v, nil
}

// ValidCodeFormat reports whether s is exactly four ASCII digits.
func ValidCodeFormat(s string) bool { return allDigits(s, activationCodeLength) }

// drawDigits draws n decimal digits uniformly (leading zeros kept) from random.
func drawDigits(random io.Reader, n int) (string, error) {
	v, err := rand.Int(random, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", n, v), nil
}

// allDigits reports whether s is exactly n ASCII digits.
func allDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// matches compares in constant time, so a guess's timing reveals nothing of the code.
func (c ActivationCode) matches(guess string) bool {
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(guess)) == 1
}
