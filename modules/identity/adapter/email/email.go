// Package email renders the identity context's emails from templates, once per email,
// into the rendered message the outbox stores and sends.
package email

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	texttemplate "text/template"
	"time"

	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/mail"
)

//go:embed templates
var templates embed.FS

// Composer renders activation emails.
type Composer struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// NewComposer parses the embedded templates.
func NewComposer() (*Composer, error) {
	text, err := texttemplate.ParseFS(templates, "templates/activation.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse text template: %w", err)
	}
	html, err := htmltemplate.ParseFS(templates, "templates/activation.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse html template: %w", err)
	}
	return &Composer{text: text, html: html}, nil
}

// activationData is what the activation templates see.
type activationData struct {
	Email     string
	Code      string
	ExpiresAt string
	TTL       string
}

// ActivationSubject is the subject of every activation email.
const ActivationSubject = "Your activation code"

// Activation renders the email that carries the code of ev.
func (c *Composer) Activation(ev domain.CodeIssued, ttl time.Duration) (mail.Message, error) {
	data := activationData{
		Email:     string(ev.Email),
		Code:      ev.Code,
		ExpiresAt: ev.ExpiresAt.UTC().Format("15:04:05 MST on 2 January 2006"),
		TTL:       humanDuration(ttl),
	}
	var text, html bytes.Buffer
	if err := c.text.Execute(&text, data); err != nil {
		return mail.Message{}, fmt.Errorf("render activation text: %w", err)
	}
	if err := c.html.Execute(&html, data); err != nil {
		return mail.Message{}, fmt.Errorf("render activation html: %w", err)
	}
	return mail.Message{To: string(ev.Email), Subject: ActivationSubject, Text: text.String(), HTML: html.String()}, nil
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
