package strength

import (
	"slices"
	"strings"
	"testing"

	"github.com/acme/identity/modules/identity/domain"
)

// weak is c.Weak of pw, a password that passes the domain's rules, for email.
func weak(t *testing.T, c *Checker, pw string, email domain.Email) bool {
	t.Helper()
	password, msg := domain.ParsePassword(pw, "")
	if msg != "" {
		t.Fatalf("password %q: %s", pw, msg)
	}
	return c.Weak(password, email)
}

// minScore is the service's threshold (modules/identity: PasswordMinScore).
const minScore = 2

func TestWeakRefusesCommonPasswords(t *testing.T) {
	c := New(minScore)
	for _, pw := range []string{
		"password1", "qwertyuiop", "iloveyou123", "password", "12345678", "1q2w3e4r",
		"P@ssw0rd1", "sunshine", "abc12345", "trustno1", "letmein1", "aaaaaaaaaaaa",
	} {
		if !weak(t, c, pw, "alice@example.com") {
			t.Errorf("Weak(%q) = false, want true (score %d)", pw, Score(pw, nil))
		}
	}
}

func TestWeakRefusesTheEmailsParts(t *testing.T) {
	c := New(minScore)
	const email = "jane.doe@example.com"
	// zxcvbn adds 10^4 guesses per piece beyond the first (its sequence penalty), so a
	// password of three or more pieces ("doe.jane.2024") scores 3 or more anyway: what
	// the inputs catch is the address with a suffix, a repeat or another label.
	for _, pw := range []string{"janedoe2024", "jane.doe1990", "janedoejanedoe", "examplejane", "janedoe!!"} {
		if !weak(t, c, pw, email) {
			t.Errorf("Weak(%q) for %s = false, want true (score %d)", pw, email, Score(pw, Inputs(email)))
		}
	}
	// The same password is not weak for someone else: what made it weak is the address.
	if weak(t, c, "janedoe2024", "bob@example.com") {
		t.Errorf("Weak(janedoe2024) for bob@example.com = true; the test shows nothing")
	}
}

// TestWeakAcceptsPassphrases holds the passwords the repository's tests register with.
func TestWeakAcceptsPassphrases(t *testing.T) {
	c := New(minScore)
	for _, pw := range []string{
		"correct horse battery", "correct horse", "correct horse battery staple",
		"the real owner", "the real owner's", "another password", "long enough",
		"long enough pass", "long enough 1", "a new stranger password", "the owner's own password",
		"spaces are fine here", "Tr0ub4dour&3x", "kq8#Vz2!mPw", strings.Repeat("é", 8) + "zq7",
	} {
		if weak(t, c, pw, "alice@example.com") {
			t.Errorf("Weak(%q) = true, want false (score %d)", pw, Score(pw, Inputs("alice@example.com")))
		}
	}
}

func TestWeakJudgesTheFirstCharactersOnly(t *testing.T) {
	c := New(minScore)
	// A weak prefix refuses the password, whatever follows.
	if pw := "passwordpassword" + "kq8#Vz2!mPw"; !weak(t, c, pw, "") {
		t.Errorf("Weak(%q) = false: the prefix of %d characters is weak", pw, MaxJudgedRunes)
	}
	// Characters, not bytes: é is 2 bytes.
	if got := prefix(strings.Repeat("é", 20)); got != strings.Repeat("é", MaxJudgedRunes) {
		t.Errorf("prefix = %q, want %d runes", got, MaxJudgedRunes)
	}
	if got := prefix("short"); got != "short" {
		t.Errorf("prefix(short) = %q", got)
	}
}

func TestInputsAreTheEmailsParts(t *testing.T) {
	got := Inputs("Jane.Doe+news@Example.com")
	want := []string{"jane.doe+news@example.com", "jane.doe+news", "janedoenews", "janedoe", "jane", "doe", "news", "example.com", "example", "com"}
	if !slices.Equal(got, want) {
		t.Errorf("Inputs = %q, want %q", got, want)
	}
	if got := Inputs("alice@example.com"); !slices.Equal(got, []string{"alice@example.com", "alice", "example.com", "example", "com"}) {
		t.Errorf("Inputs repeats inputs: %q", got)
	}
	if got := Inputs(""); len(got) != 0 {
		t.Errorf("Inputs of no email: %q", got)
	}
	// The mailbox is the domain's (domain.Email.Mailbox): for Gmail without the dots.
	if got := Inputs("j.doe+x@googlemail.com"); !slices.Contains(got, "jdoe") {
		t.Errorf("Inputs(j.doe+x@googlemail.com) = %q, want the mailbox's local part jdoe", got)
	}
}
