package strength

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/trustelem/zxcvbn"

	"github.com/acme/identity/modules/identity/domain"
)

// benchPasswords returns a password of n characters of each kind: random printable
// ASCII (fixed seed), dictionary-like (common words joined by spaces, as a passphrase
// is), one repeated character (zxcvbn's repeat matching) and, the worst case, l33t
// substitutes (zxcvbn tries every combination of their readings, each a dictionary
// pass over every substring).
func benchPasswords(n int) map[string]string {
	r := rand.New(rand.NewPCG(1, 2))
	var random strings.Builder
	for range n {
		random.WriteByte(byte('!' + r.IntN('~'-'!'+1)))
	}
	words := []string{"correct", "horse", "battery", "staple", "the", "real", "owner", "sunshine", "password", "dragon"}
	var dict strings.Builder
	for i := 0; dict.Len() < n; i++ {
		if i > 0 {
			dict.WriteByte(' ')
		}
		dict.WriteString(words[i%len(words)])
	}
	// Every l33t substitute zxcvbn knows, and a letter: the worst of the few tried.
	l33t := strings.Repeat("4@8({[<3691!|70$5+%2x", n)[:n]
	return map[string]string{
		"l33t":       l33t,
		"random":     random.String(),
		"dictionary": dict.String()[:n],
		"repeat":     strings.Repeat("a", n),
	}
}

var kinds = []string{"random", "dictionary", "repeat", "l33t"}

const benchEmail domain.Email = "jane.doe@example.com"

// BenchmarkWeak is the cost of one judgement as the service makes it (the first
// MaxJudgedRunes characters).
func BenchmarkWeak(b *testing.B) {
	c := New(2)
	for _, n := range []int{8, 16, 24, 32, 64, 128} {
		for _, kind := range kinds {
			pw, ok := benchPasswords(n)[kind]
			if !ok {
				b.Fatalf("no %s password", kind)
			}
			password, msg := domain.ParsePassword(pw, "")
			if msg != "" {
				b.Fatalf("%s password: %s", kind, msg)
			}
			b.Run(fmt.Sprintf("%s/%d", kind, n), func(b *testing.B) {
				for b.Loop() {
					c.Weak(password, benchEmail)
				}
			})
		}
	}
}

// BenchmarkUnbounded is zxcvbn on the whole password, to show what the bound saves.
func BenchmarkUnbounded(b *testing.B) {
	inputs := Inputs(benchEmail)
	for _, n := range []int{16, 24, 32, 64} {
		for _, kind := range kinds {
			pw, ok := benchPasswords(n)[kind]
			if !ok {
				b.Fatalf("no %s password", kind)
			}
			b.Run(fmt.Sprintf("%s/%d", kind, n), func(b *testing.B) {
				for b.Loop() {
					zxcvbn.PasswordStrength(pw, inputs)
				}
			})
		}
	}
}
