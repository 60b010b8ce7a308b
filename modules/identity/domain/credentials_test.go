package domain

import (
	"strings"
	"testing"
)

func TestParseEmail(t *testing.T) {
	// 254 characters: 64 + "@" + three labels of 61 and "com".
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 61) + "." + strings.Repeat("c", 61) + "." + strings.Repeat("d", 61) + ".com"
	tests := []emailCase{
		{raw: "alice@example.com", want: "alice@example.com"},
		{raw: "  Alice@Example.COM \t", want: "alice@example.com"},
		{raw: "first.last+tag@sub.example.org", want: "first.last+tag@sub.example.org"},
		{raw: long, want: Email(long)},
		{raw: long + "m", wantErr: true},
		{raw: "", wantErr: true},
		{raw: "   ", wantErr: true},
		{raw: "alice", wantErr: true},
		{raw: "alice@", wantErr: true},
		{raw: "@example.com", wantErr: true},
		{raw: "alice@localhost", wantErr: true},
		{raw: "alice@example..com", wantErr: true},
		{raw: "alice@.example.com", wantErr: true},
		{raw: "Alice <alice@example.com>", wantErr: true},
		{raw: "alice@example.com (comment)", wantErr: true},
		{raw: "al ice@example.com", wantErr: true},
		{raw: "alice\x00@example.com", wantErr: true},
		{raw: "alice@example.com\n", want: "alice@example.com"},
		{raw: "alice@exa\nmple.com", wantErr: true},
		{raw: "'; DROP TABLE accounts; --@example.com", wantErr: true},
		{raw: strings.Repeat("a", 65) + "@example.com", wantErr: true},
		{raw: "alice@[127.0.0.1]", wantErr: true},
		{raw: "\ufffd\ufffd@example.com", wantErr: true},
		{raw: "jöhn@example.com", wantErr: true},
		{raw: "john@xn--bcher-kva.example", want: "john@xn--bcher-kva.example"},
	}
	tests = append(tests, domainTests()...)
	for _, tt := range tests {
		got, msg := ParseEmail(tt.raw)
		if tt.wantErr {
			if msg == "" {
				t.Errorf("ParseEmail(%q) = %q, want an error", tt.raw, got)
			}
			continue
		}
		if msg != "" || got != tt.want {
			t.Errorf("ParseEmail(%q) = %q, %q; want %q", tt.raw, got, msg, tt.want)
		}
	}
}

func TestParsePassword(t *testing.T) {
	const email Email = "alice@example.com"
	tests := []struct {
		password string
		want     string
	}{
		{"correct horse", ""},
		{"12345678a", ""},
		{strings.Repeat("x", 128), ""},
		{strings.Repeat("é", 8), ""}, // 8 characters, 16 bytes
		{"", "is required"},
		{"short", "must be at least 8 characters"},
		{"ééééééé", "must be at least 8 characters"}, // 7 characters, 14 bytes
		{strings.Repeat("x", 129), "must be at most 128 characters"},
		{"alice@example.com", "must not be the email address"},
		{"ALICE@example.com", "must not be the email address"},
		{"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", "must be valid UTF-8"},
		{"nul\x00nul\x00nul", "must not contain control characters"},
		{"tab\tin the middle", "must not contain control characters"},
		{"spaces are fine here", ""},
	}
	for _, tt := range tests {
		if got := checkPassword(tt.password, email); got != tt.want {
			t.Errorf("ParsePassword(%q) = %q, want %q", tt.password, got, tt.want)
		}
	}
}

func TestParseRegistrationReportsEveryField(t *testing.T) {
	_, _, err := ParseRegistration("not an email", "short")
	verr, ok := err.(*ValidationError) //nolint:errorlint // returned unwrapped
	if !ok {
		t.Fatalf("got %v, want *ValidationError", err)
	}
	var fields []string
	for _, f := range verr.Fields {
		fields = append(fields, f.Field)
	}
	if strings.Join(fields, ",") != "email,password" {
		t.Fatalf("fields = %v, want email and password", fields)
	}
	if _, _, err := ParseRegistration("bob@example.com", "long enough pass"); err != nil {
		t.Fatalf("valid registration: %v", err)
	}
}

type emailCase struct {
	raw     string
	want    Email
	wantErr bool
}

// domainTests are the domain rules of the contract: dot-separated labels of letters,
// digits and hyphens, 1 to 63 characters, no hyphen at either end, a last label not all
// digits, no IP literal; internationalised domains in xn-- form.
func domainTests() []emailCase {
	label63 := strings.Repeat("a", 63)
	ok := func(domain string) emailCase {
		return emailCase{raw: "a@" + domain, want: Email("a@" + strings.ToLower(domain))}
	}
	bad := func(domain string) emailCase { return emailCase{raw: "a@" + domain, wantErr: true} }
	return []emailCase{
		ok("example.com"),
		ok("mail.example.co.uk"),
		ok("EXAMPLE.COM"),
		ok("ex-ample.com"),
		ok("e--x.com"),
		ok("a.b"),
		ok("123.example.com"),
		ok("1example.com"),
		ok("example.c0m"),
		ok("example.xn--p1ai"),
		ok("xn--80ak6aa92e.com"),
		ok(label63 + ".com"),
		bad(label63 + "a.com"),
		bad("evil.example/phish.example.com"),
		bad("exa%mple.com"),
		bad("-example.com"),
		bad("example-.com"),
		bad("example.-com"),
		bad("example.com-"),
		bad("1.2.3.4"),
		bad("example.123"),
		bad("[1.2.3.4]"),
		bad("[ipv6:2001:db8::1]"),
		bad("exa_mple.com"),
		bad("exa+mple.com"),
		bad("exa!mple.com"),
		bad("example.com."),
		bad(".example.com"),
		bad("example..com"),
		bad("localhost"),
		bad("exa'mple.com"),
		bad("example.com:25"),
		bad("exa*mple.com"),
	}
}

func TestMailbox(t *testing.T) {
	for email, want := range map[Email]Mailbox{
		"alice@example.com":         "alice@example.com",
		"alice+1@example.com":       "alice@example.com",
		"alice+1+2@example.com":     "alice@example.com",
		"a.l.i.c.e@example.com":     "a.l.i.c.e@example.com", // dots matter outside gmail
		"a.l.i.c.e+x@gmail.com":     "alice@gmail.com",
		"alice@googlemail.com":      "alice@gmail.com",
		"Al.ice+tag@googlemail.com": "Alice@gmail.com",  // Mailbox does not lower-case: ParseEmail did
		"+tag@example.com":          "+tag@example.com", // no local part before the tag: kept whole
		"...@gmail.com":             "...@gmail.com",
	} {
		if got := email.Mailbox(); got != want {
			t.Errorf("Mailbox(%q) = %q, want %q", email, got, want)
		}
	}
}
