// Package email turns the identity context's events into the emails they cause: each
// kind of email is a pair of templates and one case of Notifier.compose, rendered once
// per email and queued in the outbox inside the transaction of the change that caused it.
package email

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	htmltemplate "html/template"
	texttemplate "text/template"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/outbox"
)

//go:embed templates
var templates embed.FS

// Queue writes emails to the outbox inside tx (outbox.Outbox satisfies it).
type Queue interface {
	Queue(ctx context.Context, tx pgx.Tx, emails ...outbox.Email) error
}

// kind is one kind of email: its subject and its text and HTML templates.
type kind struct {
	subject string
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// Notifier queues the emails of the identity context's events. It is the store's port
// for events (postgres.Events).
type Notifier struct {
	queue           Queue
	activation      kind
	passwordReset   kind
	passwordChanged kind
	accountDeleted  kind
	newSignIn       kind
	emailChange     kind
	emailChanging   kind
	accountDisabled kind
}

// The subjects of the emails.
const (
	ActivationSubject      = "Your activation code"
	PasswordResetSubject   = "Your password-reset code"
	PasswordChangedSubject = "Your password was changed"
	AccountDeletedSubject  = "Your account was deleted"
	NewSignInSubject       = "A new sign-in to your account"
	EmailChangeSubject     = "Confirm your new email address"
	EmailChangingSubject   = "Your email address is being changed"
	AccountDisabledSubject = "Your account was disabled"
)

// NewNotifier parses the embedded templates; the emails go to queue.
func NewNotifier(queue Queue) (*Notifier, error) {
	activation, err := parseKind("activation", ActivationSubject)
	if err != nil {
		return nil, err
	}
	passwordReset, err := parseKind("password_reset", PasswordResetSubject)
	if err != nil {
		return nil, err
	}
	passwordChanged, err := parseKind("password_changed", PasswordChangedSubject)
	if err != nil {
		return nil, err
	}
	accountDeleted, err := parseKind("account_deleted", AccountDeletedSubject)
	if err != nil {
		return nil, err
	}
	newSignIn, err := parseKind("new_sign_in", NewSignInSubject)
	if err != nil {
		return nil, err
	}
	emailChange, err := parseKind("email_change", EmailChangeSubject)
	if err != nil {
		return nil, err
	}
	emailChanging, err := parseKind("email_change_requested", EmailChangingSubject)
	if err != nil {
		return nil, err
	}
	accountDisabled, err := parseKind("account_disabled", AccountDisabledSubject)
	if err != nil {
		return nil, err
	}
	return &Notifier{queue: queue, activation: activation, passwordReset: passwordReset, passwordChanged: passwordChanged,
		accountDeleted: accountDeleted, newSignIn: newSignIn, emailChange: emailChange, emailChanging: emailChanging,
		accountDisabled: accountDisabled}, nil
}

func parseKind(name, subject string) (kind, error) {
	text, err := texttemplate.ParseFS(templates, "templates/"+name+".txt.tmpl")
	if err != nil {
		return kind{}, fmt.Errorf("parse %s text template: %w", name, err)
	}
	html, err := htmltemplate.ParseFS(templates, "templates/"+name+".html.tmpl")
	if err != nil {
		return kind{}, fmt.Errorf("parse %s html template: %w", name, err)
	}
	return kind{subject: subject, text: text, html: html}, nil
}

// Publish queues, within tx, the email of every event that causes one.
func (n *Notifier) Publish(ctx context.Context, tx pgx.Tx, events []domain.Event) error {
	var emails []outbox.Email
	for _, e := range events {
		email, ok, err := n.compose(e)
		if err != nil {
			return err
		}
		if ok {
			emails = append(emails, email)
		}
	}
	if err := n.queue.Queue(ctx, tx, emails...); err != nil {
		return fmt.Errorf("queue emails: %w", err)
	}
	return nil
}

// compose is the one table from events to emails: false for an event that sends none.
func (n *Notifier) compose(e domain.Event) (outbox.Email, bool, error) {
	switch e := e.(type) {
	case domain.CodeIssued:
		if e.Withheld {
			return outbox.Email{}, false, nil // to an address an active account holds
		}
		k := n.activation
		switch e.Purpose {
		case domain.PurposeActivation:
		case domain.PurposePasswordReset:
			k = n.passwordReset
		case domain.PurposeEmailChange:
			k = n.emailChange
		default:
			return outbox.Email{}, false, fmt.Errorf("compose email: no template for a %s code", e.Purpose)
		}
		expires := e.ExpiresAt
		msg, err := k.render(e.Email, codeData(e))
		return outbox.Email{Message: msg, ExpiresAt: &expires}, err == nil, err
	case domain.PasswordChanged:
		// A notice, never dropped: it says the account changed hands, if it did.
		msg, err := n.passwordChanged.render(e.Email, noticeEmail{At: stamp(e.At)})
		return outbox.Email{Message: msg}, err == nil, err
	case domain.EmailChangeRequested:
		// To the old address: when, but no part of the new address (its domain too is
		// text the requester chose) and no code.
		msg, err := n.emailChanging.render(e.Email, noticeEmail{At: stamp(e.At)})
		return outbox.Email{Message: msg}, err == nil, err
	case domain.AccountDeleted:
		msg, err := n.accountDeleted.render(e.Email, noticeEmail{})
		return outbox.Email{Message: msg}, err == nil, err
	case domain.AccountDisabled:
		// When, never the reason: it is the administrator's text, for the audit trail.
		msg, err := n.accountDisabled.render(e.Email, noticeEmail{At: stamp(e.At)})
		return outbox.Email{Message: msg}, err == nil, err
	case domain.ClientSignedIn:
		if !e.Notify {
			return outbox.Email{}, false, nil
		}
		msg, err := n.newSignIn.render(e.Email, noticeEmail{At: stamp(e.At), Client: e.Client})
		return outbox.Email{Message: msg}, err == nil, err
	}
	return outbox.Email{}, false, nil
}

// codeEmail is what the templates of a code's email see.
// None repeats text the sender chose (the address): only To names it.
type codeEmail struct {
	Code      string
	ExpiresAt string
	TTL       string
}

// noticeEmail is what the templates of a notice see: when it happened and, for a
// sign-in, from which client (an IP the service parsed: no text the requester chose).
type noticeEmail struct {
	At     string
	Client string
}

// stamp writes an instant for a person: "15:04:05 UTC on 2 January 2006".
func stamp(t time.Time) string { return t.UTC().Format("15:04:05 MST on 2 January 2006") }

func codeData(e domain.CodeIssued) codeEmail {
	return codeEmail{
		Code:      e.Code,
		ExpiresAt: stamp(e.ExpiresAt),
		TTL:       humanDuration(e.ExpiresAt.Sub(e.IssuedAt)),
	}
}

func (k kind) render(to domain.Email, data any) (mail.Message, error) {
	var text, html bytes.Buffer
	if err := k.text.Execute(&text, data); err != nil {
		return mail.Message{}, fmt.Errorf("render %q text: %w", k.subject, err)
	}
	if err := k.html.Execute(&html, data); err != nil {
		return mail.Message{}, fmt.Errorf("render %q html: %w", k.subject, err)
	}
	return mail.Message{To: string(to), Subject: k.subject, Text: text.String(), HTML: html.String()}, nil
}

// humanDuration writes a code lifetime in words: "1 minute", "90 seconds", "1.5s".
func humanDuration(d time.Duration) string {
	switch {
	case d == time.Minute:
		return "1 minute"
	case d == time.Second:
		return "1 second"
	case d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	case d%time.Second == 0:
		return fmt.Sprintf("%d seconds", int(d/time.Second))
	}
	return d.String()
}
