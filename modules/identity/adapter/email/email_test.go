package email

import (
	"strings"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

func TestActivationEmail(t *testing.T) {
	n, err := NewNotifier(nil)
	if err != nil {
		t.Fatalf("NewNotifier: %v", err)
	}
	expires := time.Date(2026, 11, 25, 14, 30, 5, 0, time.FixedZone("CET", 3600))
	// An address with HTML metacharacters (quoted local parts allow them): the email
	// does not repeat it.
	addr := domain.Email(`"<b>bob&co</b>"@example.com`)
	email, ok, err := n.compose(domain.CodeIssued{Purpose: domain.PurposeActivation, Email: addr, Code: "0427",
		IssuedAt: expires.Add(-60 * time.Second), ExpiresAt: expires})
	if err != nil || !ok {
		t.Fatalf("compose: %v, %v", ok, err)
	}
	msg := email.Message
	if email.ExpiresAt == nil || !email.ExpiresAt.Equal(expires) {
		t.Errorf("email expires at %v, want with its code at %v", email.ExpiresAt, expires)
	}

	if msg.To != string(addr) || msg.Subject != ActivationSubject {
		t.Errorf("To %q, Subject %q; want %q, %q", msg.To, msg.Subject, addr, ActivationSubject)
	}

	// Text: the code alone on its own line (leading zero kept), and when it expires.
	var codeLines []string
	for _, line := range strings.Split(msg.Text, "\n") {
		if strings.Contains(line, "0427") {
			codeLines = append(codeLines, line)
		}
	}
	if len(codeLines) != 1 || codeLines[0] != "0427" {
		t.Errorf("text lines holding the code: %q, want exactly one line \"0427\"\n%s", codeLines, msg.Text)
	}
	for _, want := range []string{"1 minute", "13:30:05 UTC on 25 November 2026"} {
		if !strings.Contains(msg.Text, want) {
			t.Errorf("text does not say %q (when the code expires):\n%s", want, msg.Text)
		}
	}

	// HTML: the code and the expiry.
	for _, want := range []string{">0427<", "13:30:05 UTC on 25 November 2026"} {
		if !strings.Contains(msg.HTML, want) {
			t.Errorf("html lacks %q:\n%s", want, msg.HTML)
		}
	}
	// No text the sender chose beyond To: the address (its local part, here markup) is
	// in neither part, so a registration cannot make the email say anything.
	for part, body := range map[string]string{"text": msg.Text, "html": msg.HTML} {
		if strings.Contains(body, "bob") {
			t.Errorf("the %s part repeats the address:\n%s", part, body)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	tests := map[time.Duration]string{
		time.Second:             "1 second",
		30 * time.Second:        "30 seconds",
		90 * time.Second:        "90 seconds",
		time.Minute:             "1 minute",
		10 * time.Minute:        "10 minutes",
		1500 * time.Millisecond: "1.5s",
	}
	for d, want := range tests {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestEmailChangeEmails: the code goes to the new address alone on its line, and nowhere
// when withheld (an active account holds the address); the notice to the old address
// names no part of the new one, nor any code.
func TestEmailChangeEmails(t *testing.T) {
	n, err := NewNotifier(nil)
	if err != nil {
		t.Fatalf("NewNotifier: %v", err)
	}
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	issued := domain.CodeIssued{Purpose: domain.PurposeEmailChange, Email: "new.mailbox@newdomain.example", Code: "04271953",
		IssuedAt: at, ExpiresAt: at.Add(15 * time.Minute)}
	email, ok, err := n.compose(issued)
	if err != nil || !ok {
		t.Fatalf("compose the code: %v, %v", ok, err)
	}
	msg := email.Message
	if msg.To != "new.mailbox@newdomain.example" || msg.Subject != EmailChangeSubject || email.ExpiresAt == nil {
		t.Errorf("To %q, Subject %q, expiry %v", msg.To, msg.Subject, email.ExpiresAt)
	}
	if !strings.Contains("\n"+msg.Text+"\n", "\n04271953\n") || !strings.Contains(msg.HTML, ">04271953<") ||
		!strings.Contains(msg.Text, "15 minutes") {
		t.Errorf("the code is not alone on a line with its lifetime:\n%s", msg.Text)
	}
	issued.Withheld = true
	if _, ok, err := n.compose(issued); ok || err != nil {
		t.Errorf("a withheld code composed an email: %v, %v", ok, err)
	}

	notice, ok, err := n.compose(domain.EmailChangeRequested{Email: "old@example.com", At: at})
	if err != nil || !ok {
		t.Fatalf("compose the notice: %v, %v", ok, err)
	}
	msg = notice.Message
	if msg.To != "old@example.com" || msg.Subject != EmailChangingSubject || notice.ExpiresAt != nil {
		t.Errorf("To %q, Subject %q, expiry %v; want the old address, never dropped", msg.To, msg.Subject, notice.ExpiresAt)
	}
	for part, body := range map[string]string{"text": msg.Text, "html": msg.HTML} {
		if strings.Contains(body, "mailbox") || strings.Contains(body, "newdomain") || strings.Contains(body, "0427") ||
			!strings.Contains(body, "12:00:00 UTC on 1 December 2026") {
			t.Errorf("the %s part of the notice:\n%s", part, body)
		}
	}
}

// TestAccountDisabledNotice: the notice of a disable goes to the account's address, is
// never dropped, says when, and never repeats the administrator's reason; an enable
// sends nothing.
func TestAccountDisabledNotice(t *testing.T) {
	n, err := NewNotifier(nil)
	if err != nil {
		t.Fatalf("NewNotifier: %v", err)
	}
	at := time.Date(2026, 12, 10, 9, 30, 0, 0, time.UTC)
	notice, ok, err := n.compose(domain.AccountDisabled{Email: "dora@example.com", At: at, Reason: "chargeback, ticket 4411"})
	if err != nil || !ok {
		t.Fatalf("compose the notice: %v, %v", ok, err)
	}
	msg := notice.Message
	if msg.To != "dora@example.com" || msg.Subject != AccountDisabledSubject || notice.ExpiresAt != nil {
		t.Errorf("To %q, Subject %q, expiry %v", msg.To, msg.Subject, notice.ExpiresAt)
	}
	for part, body := range map[string]string{"text": msg.Text, "html": msg.HTML} {
		if strings.Contains(body, "4411") || strings.Contains(body, "chargeback") || strings.Contains(body, "dora") ||
			!strings.Contains(body, "09:30:00 UTC on 10 December 2026") {
			t.Errorf("the %s part of the notice:\n%s", part, body)
		}
	}
	if _, ok, err := n.compose(domain.AccountEnabled{At: at}); ok || err != nil {
		t.Errorf("an enable composed an email: %v, %v", ok, err)
	}
}
