package domain

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on credentials, from the contract.
const (
	MaxEmailLength    = 254
	MinPasswordLength = 8
	MaxPasswordLength = 128
)

// Email is a normalised address: trimmed, lower-cased, syntactically valid.
type Email string

// ParseEmail normalises raw and checks it is a plain address (no display name, no
// comments) of at most MaxEmailLength characters whose domain is a dotted host name (see
// validDomain).
func ParseEmail(raw string) (Email, string) {
	s := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case s == "":
		return "", "is required"
	case utf8.RuneCountInString(s) > MaxEmailLength:
		return "", fmt.Sprintf("must be at most %d characters", MaxEmailLength)
	case strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		// Printable ASCII only: what every SMTP server delivers (no SMTPUTF8 needed);
		// international domains are accepted in their xn-- form.
		return "", "must be a valid email address (ASCII; international domains in xn-- form)"
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", "must be a valid email address"
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 || !validDomain(domain) {
		return "", "must be a valid email address"
	}
	return Email(s), ""
}

// validDomain reports whether domain (lower-cased) is a host name email can be delivered
// to: at least two dot-separated labels of letters, digits and hyphens, each 1 to 63
// characters long and neither starting nor ending with a hyphen, the last not all digits.
// That refuses IP literals ([192.0.2.1]) and dotted quads (192.0.2.1), and accepts
// internationalised domains in their ASCII (xn--) form.
func validDomain(domain string) bool {
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || strings.IndexFunc(l, notLDH) >= 0 {
			return false
		}
	}
	tld := labels[len(labels)-1]
	return strings.Trim(tld, "0123456789") != ""
}

// Password is a candidate for an account's new password that passed the domain's rules
// (ParsePassword). It prints as a mask, so that no log line or error can hold it; Plain
// is the one way to its text, for the hasher and the strength check.
type Password struct{ plain string }

// Plain returns the password's text.
func (p Password) Plain() string { return p.plain }

// String masks the password.
func (Password) String() string { return "********" }

// GoString masks the password (%#v).
func (Password) GoString() string { return "domain.Password{********}" }

// ParsePassword checks raw as the new password of the account email (which may be "",
// not known or not valid): the message says what is wrong, or is "" when nothing is.
// Length is counted in characters (runes), not bytes. How guessable the password is, is
// judged outside the domain (app.PasswordStrength).
func ParsePassword(raw string, email Email) (Password, string) {
	n := utf8.RuneCountInString(raw)
	switch {
	case raw == "":
		return Password{}, "is required"
	case !utf8.ValidString(raw):
		return Password{}, "must be valid UTF-8"
	case n < MinPasswordLength:
		return Password{}, fmt.Sprintf("must be at least %d characters", MinPasswordLength)
	case n > MaxPasswordLength:
		return Password{}, fmt.Sprintf("must be at most %d characters", MaxPasswordLength)
	case strings.IndexFunc(raw, unicode.IsControl) >= 0:
		return Password{}, "must not contain control characters"
	case email != "" && strings.EqualFold(strings.TrimSpace(raw), string(email)):
		return Password{}, "must not be the email address"
	}
	return Password{plain: raw}, ""
}

// ParseRegistration parses a registration request, reporting every bad field at once.
func ParseRegistration(rawEmail, rawPassword string) (Email, Password, error) {
	var verr ValidationError
	email, msg := ParseEmail(rawEmail)
	if msg != "" {
		verr.Add("email", msg)
	}
	password, msg := ParsePassword(rawPassword, email)
	if msg != "" {
		verr.Add("password", msg)
	}
	return email, password, verr.Err()
}

// notLDH reports whether r is not a letter (lower-case), a digit or a hyphen.
func notLDH(r rune) bool {
	return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-'
}

// Mailbox is the inbox an address delivers to, the key of every per-address budget: the
// local part without its +tag and, for gmail.com and googlemail.com, without its dots
// and with the domain read as gmail.com. alice+1@example.com and alice+2@example.com are
// one mailbox; accounts stay unique by the address as given.
type Mailbox string

// Mailbox returns the mailbox e delivers to.
func (e Email) Mailbox() Mailbox {
	s := string(e)
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return Mailbox(s)
	}
	local, host := s[:at], s[at+1:]
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
	}
	if host == "gmail.com" || host == "googlemail.com" {
		host = "gmail.com"
		if dotless := strings.ReplaceAll(local, ".", ""); dotless != "" {
			local = dotless
		}
	}
	return Mailbox(local + "@" + host)
}
