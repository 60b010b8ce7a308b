// Package webhook is how identity talks to webhook endpoints: the Standard Webhooks
// signature, the endpoints' whsec_ secrets, and an HTTP client guarded against
// server-side request forgery (the address of every connection is checked as it is
// dialled, so a name that resolved to a public address at registration and to a private
// one later is still refused).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// Timeout bounds one delivery: connecting, sending, and reading the answer.
const Timeout = 10 * time.Second

// MaxResponseBody is the most of an answer's body that is read (then the connection is
// dropped).
const MaxResponseBody = 64 << 10

// Sign returns the webhook-signature header of a message (Standard Webhooks, version 1):
// "v1," and the base64 of the HMAC-SHA256 of "id.timestamp.body", keyed by the
// base64-decoded part of secret after whsec_.
func Sign(secret, id string, timestamp time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, domain.WebhookSecretPrefix))
	if err != nil {
		return "", errors.New("webhook secret: not whsec_ and base64")
	}
	mac := hmac.New(sha256.New, key)
	_, _ = fmt.Fprintf(mac, "%s.%d.", id, timestamp.Unix()) // a hash.Hash never fails to write
	_, _ = mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Guard decides which endpoints may be called: https only, at public addresses, unless
// AllowPrivate (WEBHOOK_ALLOW_PRIVATE) lets http and loopback, private, link-local and
// shared (CGNAT) addresses in too.
type Guard struct {
	AllowPrivate bool
	// Resolver looks names up (nil: net.DefaultResolver).
	Resolver *net.Resolver
}

// CheckURL checks an endpoint's URL at registration: an absolute http(s) URL with a host,
// whose scheme is allowed, and every address its host resolves to allowed. Its refusals
// are *domain.ValidationError of the field "url"; the delivery checks the address again
// at every connection.
func (g Guard) CheckURL(ctx context.Context, raw string) error {
	refuse := func(msg string) error {
		var verr domain.ValidationError
		verr.Add("url", msg)
		return &verr
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
		return refuse("must be an absolute http(s) URL with a host, no credentials and no fragment")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && g.AllowPrivate:
	case u.Scheme == "http":
		return refuse("must be https (http only with WEBHOOK_ALLOW_PRIVATE=true)")
	default:
		return refuse("must be an https URL")
	}
	resolver := g.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	lookupCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := resolver.LookupNetIP(lookupCtx, "ip", u.Hostname())
	if err != nil || len(addrs) == 0 {
		return refuse("its host does not resolve")
	}
	for _, a := range addrs {
		if err := g.checkAddr(a); err != nil {
			return refuse(fmt.Sprintf("its host resolves to %s: %v", a.Unmap(), err))
		}
	}
	return nil
}

// errPrivate is an address the guard refuses.
var errPrivate = errors.New("a loopback, private, link-local or otherwise non-public address (allowed only with WEBHOOK_ALLOW_PRIVATE=true)")

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// checkAddr refuses what is not a public unicast address, unless AllowPrivate.
func (g Guard) checkAddr(a netip.Addr) error {
	if g.AllowPrivate {
		return nil
	}
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || cgnat.Contains(a) {
		return errPrivate
	}
	return nil
}

// control is the dialer's check of every connection's address, after resolution and
// before the connection is made.
func (g Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: address %q: %w", address, err)
	}
	if err := g.checkAddr(ap.Addr()); err != nil {
		return fmt.Errorf("webhook: refused %s: %w", ap.Addr().Unmap(), err)
	}
	return nil
}

// Client POSTs signed events to endpoints through the guard. It follows no redirect (a
// 3xx is a failed attempt), uses no proxy, and reads at most MaxResponseBody of an answer.
type Client struct {
	guard Guard
	http  *http.Client
	now   func() time.Time
}

// NewClient returns a client guarded by g.
func NewClient(g Guard) *Client {
	dialer := &net.Dialer{Timeout: Timeout, Control: g.control}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would dial the address, unchecked
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   Timeout,
		ResponseHeaderTimeout: Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &Client{guard: g, now: time.Now, http: &http.Client{
		Transport: transport,
		Timeout:   Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Message is one delivery: the event's id (webhook-id) and its JSON body.
type Message struct {
	URL, Secret, ID string
	Body            []byte
}

// Post sends m, signed now, and returns the status the endpoint answered, or an error
// when no answer came (refused address or scheme, connection, timeout).
func (c *Client) Post(ctx context.Context, m Message) (int, error) {
	u, err := url.Parse(m.URL)
	if err != nil {
		return 0, fmt.Errorf("webhook: url: %w", err)
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !c.guard.AllowPrivate) {
		return 0, fmt.Errorf("webhook: scheme %q refused", u.Scheme)
	}
	now := c.now()
	sig, err := Sign(m.Secret, m.ID, now, m.Body)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return 0, fmt.Errorf("webhook: request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "identity-webhooks/1")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := c.http.Do(req)
	if err != nil {
		// Without the URL, which may hold a token of the consumer's: the error goes to
		// the log, the attempt's row and River's job row.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return 0, fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	// Read (a bounded part of) the answer so the connection may be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBody))
	return resp.StatusCode, nil
}
