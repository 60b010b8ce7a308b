package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/acme/identity/platform/config"
)

// DefaultSMTPTimeout bounds the connection to the SMTP server and each phase of a
// delivery (greeting, STARTTLS, AUTH, then the message) when the caller's context has no
// earlier deadline.
const DefaultSMTPTimeout = 10 * time.Second

// SMTPTransport sends emails to an SMTP server (SMTP_* configuration) with go-mail, one
// connection per email: the dispatcher sends a few emails at once, and a fresh connection
// cannot be left broken by an earlier failure.
type SMTPTransport struct {
	host     string
	port     int
	username string
	password string
	tlsMode  string
	from     string
	// Timeout bounds the connection and each SMTP phase; the context of Send can only
	// shorten it.
	Timeout time.Duration
	// tlsConfig verifies the server; nil: the system roots and the name SMTP_HOST. Tests
	// set it to trust their own certificate.
	tlsConfig *tls.Config
}

// NewSMTPTransport returns a transport to the server of cfg that sends emails from the
// address from (MAIL_FROM, "Name <address>" or a bare address).
func NewSMTPTransport(cfg config.SMTP, from string) (*SMTPTransport, error) {
	if cfg.Host == "" {
		return nil, errors.New("SMTP host is empty")
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("SMTP port %d is out of range", cfg.Port)
	}
	switch cfg.TLS {
	case "none", "starttls", "tls":
	default:
		return nil, fmt.Errorf("SMTP TLS mode %q is not none, starttls or tls", cfg.TLS)
	}
	if _, err := netmail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("sender address %q: %w", from, err)
	}
	return &SMTPTransport{
		host: cfg.Host, port: cfg.Port, username: cfg.Username, password: cfg.Password,
		tlsMode: cfg.TLS, from: from, Timeout: DefaultSMTPTimeout,
	}, nil
}

// Send delivers m as a multipart/alternative email (text/plain, then text/html). It
// returns when the server has accepted the message, refused it, or ctx ended: cancelling
// ctx closes the connection at once, whatever phase the conversation is in.
func (t *SMTPTransport) Send(ctx context.Context, m Message) error {
	addr := net.JoinHostPort(t.host, strconv.Itoa(t.port))
	msg := gomail.NewMsg()
	if err := msg.From(t.from); err != nil {
		return fmt.Errorf("email sender: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("email recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)

	// go-mail honours ctx while it dials only; afterwards, closing the connection is what
	// interrupts a provider that stopped answering.
	var stops []func() bool
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	client, err := t.client(ctx, func(c net.Conn) {
		stops = append(stops, context.AfterFunc(ctx, func() { _ = c.Close() }))
	})
	if err != nil {
		return fmt.Errorf("SMTP client for %s: %w", addr, err)
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if err != nil {
		if ctxErr := contextErr(ctx); ctxErr != nil {
			return fmt.Errorf("send email via SMTP %s: %w (%w)", addr, ctxErr, err)
		}
		return fmt.Errorf("send email via SMTP %s: %w", addr, err)
	}
	return nil
}

// contextErr is ctx.Err(), also when ctx's deadline has passed but its timer has not yet
// fired: go-mail's connection deadline is ctx's, so its i/o timeout can come first.
func contextErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// client builds a go-mail client for one delivery; onConn sees every connection it opens.
func (t *SMTPTransport) client(ctx context.Context, onConn func(net.Conn)) (*gomail.Client, error) {
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	if deadline, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(deadline)), time.Millisecond)
	}
	tlsConfig := t.tlsConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: t.host, MinVersion: tls.VersionTLS12}
	}
	opts := []gomail.Option{
		gomail.WithPort(t.port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithDialContextFunc(t.dialer(ctx, tlsConfig, onConn)),
	}
	switch t.tlsMode {
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "tls":
		// The dialer below speaks TLS from the first byte; WithSSL keeps go-mail from
		// trying STARTTLS on top of it.
		opts = append(opts, gomail.WithSSL())
	}
	if t.username != "" {
		// PLAIN and LOGIN refuse to send the password unless the connection is encrypted
		// (or the server is localhost); SCRAM never sends it.
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(t.username), gomail.WithPassword(t.password))
	}
	client, err := gomail.NewClient(t.host, opts...)
	if err != nil {
		return nil, err
	}
	return client, nil
}

// dialer opens the TCP connection (TLS from the start in "tls" mode) and lets the caller
// track it. The connection is returned as is, so go-mail's SMTP client sees a *tls.Conn
// and knows it is encrypted.
func (t *SMTPTransport) dialer(ctx context.Context, tlsConfig *tls.Config, onConn func(net.Conn)) gomail.DialContextFunc {
	return func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		nd := &net.Dialer{}
		var (
			conn net.Conn
			err  error
		)
		if t.tlsMode == "tls" {
			conn, err = (&tls.Dialer{NetDialer: nd, Config: tlsConfig}).DialContext(dialCtx, network, addr)
		} else {
			conn, err = nd.DialContext(dialCtx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			_ = conn.Close()
			return nil, ctx.Err()
		}
		onConn(conn)
		return conn, nil
	}
}
