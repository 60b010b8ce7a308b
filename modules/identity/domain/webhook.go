package domain

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// EventTypes are every account event type, in the contract's order: what a subscriber
// or a webhook endpoint may ask for.
var EventTypes = []string{
	EventRegistered, EventActivated, EventSignedIn, EventPasswordChanged, EventPasswordReset,
	EventEmailChanged, EventDisabled, EventEnabled, EventSessionsRevoked, EventDeleted,
}

// IsEventType reports whether t is an account event type.
func IsEventType(t string) bool { return slices.Contains(EventTypes, t) }

// ErrWebhookNotFound is an id that names no webhook endpoint.
var ErrWebhookNotFound = errors.New("webhook endpoint not found")

// Webhook is an endpoint that account events are POSTed to, signed with Secret (Standard
// Webhooks; only its creation shows it). DisabledAt is set when it answered 410 Gone.
type Webhook struct {
	ID             string
	URL            string
	Events         []string
	Secret         string
	CreatedAt      time.Time
	DisabledAt     *time.Time
	DisabledReason string
}

// WebhookAttempt is one delivery attempt of the event EventID to the endpoint
// EndpointID: when, the HTTP status answered (0: none came), how long it took, and why
// it failed ("" when it was delivered).
type WebhookAttempt struct {
	ID          int64
	EndpointID  string
	EventID     string
	AttemptedAt time.Time
	Status      int
	Duration    time.Duration
	Error       string
}

// CheckWebhookEvents checks the event types an endpoint asks for: at least one, each an
// account event type, none twice. Every problem is a field error of "events".
func CheckWebhookEvents(types []string) error {
	var verr ValidationError
	if len(types) == 0 {
		verr.Add("events", "must list at least one event type")
	}
	for i, t := range types {
		switch {
		case !IsEventType(t):
			verr.Add("events", fmt.Sprintf("%q is not an account event type", t))
		case slices.Index(types, t) != i:
			verr.Add("events", fmt.Sprintf("%q is listed twice", t))
		}
	}
	return verr.Err()
}

// WebhookSecretPrefix starts every endpoint's secret (Standard Webhooks).
const WebhookSecretPrefix = "whsec_"

// webhookSecretBytes is the length of a secret's key: 32 random bytes (256 bits; the
// specification asks for 24 to 64).
const webhookSecretBytes = 32

// NewWebhookSecret returns a new whsec_ secret: the prefix and the base64 of 32 bytes
// read from random.
func NewWebhookSecret(random io.Reader) (string, error) {
	key := make([]byte, webhookSecretBytes)
	if _, err := io.ReadFull(random, key); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}
