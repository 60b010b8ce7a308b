// Package strength judges how guessable a password is with zxcvbn
// (github.com/trustelem/zxcvbn, a Go port of Dropbox's estimator): it finds the
// dictionary words, names, keyboard patterns, dates, repeats and sequences a password is
// made of, and estimates how many guesses an attacker who tries those first would need.
// It implements app.PasswordStrength.
package strength

import (
	"strings"

	"github.com/trustelem/zxcvbn"

	"github.com/acme/identity/modules/identity/domain"
)

// MaxJudgedRunes bounds how much of a password is judged: only its first MaxJudgedRunes
// characters are given to zxcvbn. zxcvbn's cost grows much faster than the length: it
// looks every substring up in its dictionaries (cubic in the length, with the
// lower-casing), once more for every combination of readings of the l33t characters
// present (1 as i or l, 7 as l or t, ...). Measured on 2 cores (BenchmarkUnbounded,
// AMD EPYC): 64 random characters cost 75 ms, 64 characters crafted from l33t
// substitutes 200 ms, 128 random ones 900 ms: several argon2id hashes (27 ms) of CPU
// that anyone could make the server spend, outside the hashing gate, with one
// unauthenticated request. With 16 characters, a call costs 0.1 to 0.5 ms for random,
// passphrase-like or repeated input and 3 to 4 ms at worst (BenchmarkWeak), a fraction
// of the hash that registration costs anyway.
//
// What follows the prefix is ignored, so it can only make the judgement stricter: a
// password is accepted when its first 16 characters alone are hard enough to guess
// (the rest adds guesses), and refused when they are not, however strong the rest.
const MaxJudgedRunes = 16

// Checker refuses passwords whose zxcvbn score is below a minimum. It is safe for
// concurrent use.
type Checker struct {
	minScore int
}

// New returns a Checker refusing passwords scored below minScore, on zxcvbn's scale:
// 0 too guessable (under 10^3 guesses), 1 very guessable (under 10^6), 2 somewhat
// guessable (under 10^8: protection from throttled online attacks), 3 safely
// unguessable (under 10^10), 4 very unguessable.
func New(minScore int) *Checker {
	return &Checker{minScore: minScore}
}

// Weak reports whether password scores below the minimum once what the user told us,
// the email address, is counted as the first words an attacker tries (expanded into its
// parts by Inputs), so "janedoe2024" is weak for jane.doe@example.com. email may be ""
// (not known).
func (c *Checker) Weak(password domain.Password, email domain.Email) bool {
	return Score(password.Plain(), Inputs(email)) < c.minScore
}

// Score is zxcvbn's score (0 to 4) of password's first MaxJudgedRunes characters, with
// userInputs as the words an attacker knows.
func Score(password string, userInputs []string) int {
	return zxcvbn.PasswordStrength(prefix(password), userInputs).Score
}

// prefix returns the first MaxJudgedRunes characters of s.
func prefix(s string) string {
	n := 0
	for i := range s {
		if n == MaxJudgedRunes {
			return s[:i]
		}
		n++
	}
	return s
}

// Inputs lists the words zxcvbn should treat as known to an attacker who knows the
// address email, most specific first, lower-cased and without duplicates: the address,
// its local part, the local part without separators, its mailbox's local part (the
// domain's rule: no +tag; for Gmail no dots) without separators, the local part split on
// . _ - +, and the domain and its labels. For jane.doe+news@example.com:
// jane.doe+news@example.com, jane.doe+news, janedoenews, janedoe, jane, doe, news,
// example.com, example, com.
func Inputs(email domain.Email) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	isSep := func(r rune) bool { return r == '.' || r == '_' || r == '-' || r == '+' }
	in := string(email)
	add(in)
	local, host, ok := cut(in)
	if !ok {
		return out
	}
	add(local)
	parts := strings.FieldsFunc(local, isSep)
	add(strings.Join(parts, ""))
	if mailboxLocal, _, ok := cut(string(email.Mailbox())); ok {
		add(strings.Join(strings.FieldsFunc(mailboxLocal, isSep), ""))
	}
	for _, p := range parts {
		add(p)
	}
	add(host)
	for _, l := range strings.Split(host, ".") {
		add(l)
	}
	return out
}

// cut splits an address at its last @.
func cut(addr string) (local, host string, ok bool) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", "", false
	}
	return addr[:at], addr[at+1:], true
}
