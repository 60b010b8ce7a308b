// Package mail delivers rendered emails: to the log (local development, SMTP_HOST empty)
// or to an SMTP server.
package mail

import (
	"context"
	"log/slog"
)

// Message is one rendered email. The sender address is the transport's.
type Message struct {
	// ID names the email for good: the SMTP transport sends it as the Message-ID
	// <ID@domain of the sender>, the same on every attempt, so mail clients fold the copies
	// that at-least-once delivery can send. Empty: a new random Message-ID per send.
	ID      string
	To      string
	Subject string
	Text    string
	HTML    string
}

// LogTransport "sends" an email by writing it to the log: in development the log is the
// mailbox, so the text part, code included, is logged. Never use it in production.
type LogTransport struct {
	logger *slog.Logger
	from   string
}

// NewLogTransport returns a transport that logs emails from the address from.
func NewLogTransport(logger *slog.Logger, from string) *LogTransport {
	return &LogTransport{logger: logger, from: from}
}

// Send logs m.
func (t *LogTransport) Send(ctx context.Context, m Message) error {
	t.logger.InfoContext(ctx, "email (log transport: SMTP_HOST is empty)",
		slog.String("message_id", m.ID), slog.String("from", t.from), slog.String("to", m.To),
		slog.String("subject", m.Subject), slog.String("text", m.Text))
	return nil
}
