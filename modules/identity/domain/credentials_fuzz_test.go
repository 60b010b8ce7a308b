package domain

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseEmail: whatever a client sends as an email, ParseEmail either refuses it with
// a message or returns an address that is normalised (trimmed, lower-case, printable
// ASCII, at most 254 characters, a dotted domain) and that parses to itself again.
func FuzzParseEmail(f *testing.F) {
	for _, seed := range []string{
		"alice@example.com", " Alice@Example.COM ", "first.last+tag@sub.example.org",
		`"quoted@local"@example.com`, "alice@[127.0.0.1]", "a@1.2.3.4", "a@-example.com",
		"a@exa%mple.com", "a@evil.example/phish.example.com", "john@xn--bcher-kva.example",
		"jöhn@example.com", "Alice <alice@example.com>", "alice@example.com (c)", "\x00@a.b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, msg := ParseEmail(raw)
		if msg != "" {
			if got != "" {
				t.Fatalf("ParseEmail(%q) refused with %q but returned %q", raw, msg, got)
			}
			return
		}
		s := string(got)
		switch {
		case s != strings.ToLower(strings.TrimSpace(s)):
			t.Fatalf("ParseEmail(%q) = %q: not trimmed and lower-cased", raw, s)
		case len(s) > MaxEmailLength || !utf8.ValidString(s):
			t.Fatalf("ParseEmail(%q) = %q: too long or not UTF-8", raw, s)
		case strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
			t.Fatalf("ParseEmail(%q) = %q: not printable ASCII", raw, s)
		}
		at := strings.LastIndexByte(s, '@')
		if at <= 0 || !strings.Contains(s[at+1:], ".") || strings.ContainsAny(s[at+1:], "[]") {
			t.Fatalf("ParseEmail(%q) = %q: no local part, or not a dotted domain name", raw, s)
		}
		if again, msg := ParseEmail(s); again != got || msg != "" {
			t.Fatalf("ParseEmail(%q) = %q, but ParseEmail of that = %q, %q", raw, s, again, msg)
		}
	})
}
