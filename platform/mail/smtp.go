package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/acme/identity/platform/config"
)

// DefaultSMTPTimeout bounds the opening of a connection (TCP, greeting, EHLO, STARTTLS,
// AUTH) and each delivery on it when the caller's context has no earlier deadline.
const DefaultSMTPTimeout = 10 * time.Second

// Defaults of the connection pool; docs/decisions.md says why.
const (
	// DefaultIdleTimeout closes a connection that sent nothing for this long: the
	// provider's resources are not held through a quiet night, and a connection is not
	// kept until the provider's own idle timeout (often a minute or more) cuts it.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxMessagesPerConnection closes a connection after this many emails, so load
	// spreads again over the provider's front ends and a server's per-connection limit is
	// rarely reached (a reconnection costs a handful of round trips every hundred emails).
	DefaultMaxMessagesPerConnection = 100
)

// quitTimeout bounds the QUIT that closes a connection politely: one round trip, so a
// second is ten times a slow provider's, and a shutdown is not held up by a dead server.
const quitTimeout = time.Second

// SMTPTransport sends emails to an SMTP server (SMTP_* configuration) with go-mail over a
// small pool of connections that it keeps open and reuses: one email costs its four round
// trips (MAIL, RCPT, DATA, the data), while the greeting, EHLO, STARTTLS and AUTH are paid
// once per connection. At most MaxConcurrent connections are open at once; a connection
// is closed when idle for IdleTimeout, after MaxMessagesPerConnection emails, or at its
// first failure, and a new one is opened when needed.
//
// An email counts as sent once the server answered its data with 2xx: a failure later in
// the session (RSET, the next MAIL, QUIT) is logged and never makes Send fail. A reused
// connection found broken before the email's data was complete (the server closed it
// while idle) is replaced at once and the email sent on the new one: the server never had
// it, so it is never sent twice. Send returns a *RejectedError for a permanent refusal (a
// 5xx reply to MAIL, RCPT, DATA or the data), and another error for a temporary one.
type SMTPTransport struct {
	host     string
	port     int
	addr     string
	username string
	password string
	tlsMode  string
	from     string
	// domain ends the Message-IDs: the domain of the sender's address.
	domain string
	logger *slog.Logger

	// Timeout bounds the opening of a connection and each delivery; the context of Send
	// can only shorten it.
	Timeout time.Duration
	// IdleTimeout closes a connection unused for this long (set before the first Send).
	IdleTimeout time.Duration
	// MaxMessagesPerConnection closes a connection after this many emails (set before the
	// first Send).
	MaxMessagesPerConnection int
	// tlsConfig verifies the server; nil: the system roots and the name SMTP_HOST. Tests
	// set it to trust their own certificate.
	tlsConfig *tls.Config

	pool       pool
	stats      counters
	background sync.WaitGroup // QUITs of connections closed after Send returned
	nextConnID atomic.Int64
}

// NewSMTPTransport returns a transport to the server of cfg that sends emails from the
// address from (MAIL_FROM, "Name <address>" or a bare address), over at most
// cfg.MaxConnections connections (0: config.DefaultSMTPMaxConnections).
func NewSMTPTransport(cfg config.SMTP, from string, logger *slog.Logger) (*SMTPTransport, error) {
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
	if err := cfg.CheckPlainTextAuth(); err != nil {
		return nil, err
	}
	maxConns := cfg.MaxConnections
	if maxConns == 0 {
		maxConns = config.DefaultSMTPMaxConnections
	}
	if maxConns < 0 {
		return nil, fmt.Errorf("SMTP max connections %d is negative", maxConns)
	}
	sender, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("sender address %q: %w", from, err)
	}
	domain := sender.Address[strings.LastIndexByte(sender.Address, '@')+1:]
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &SMTPTransport{
		host: cfg.Host, port: cfg.Port, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		username: cfg.Username, password: cfg.Password, tlsMode: cfg.TLS, from: from, domain: domain,
		logger:                   logger.With(slog.String("component", "smtp"), slog.String("smtp_server", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))),
		Timeout:                  DefaultSMTPTimeout,
		IdleTimeout:              DefaultIdleTimeout,
		MaxMessagesPerConnection: DefaultMaxMessagesPerConnection,
		pool:                     newPool(maxConns),
	}, nil
}

// MaxConcurrent is how many emails the transport sends at once: its number of
// connections. The outbox sends that many at a time.
func (t *SMTPTransport) MaxConcurrent() int { return t.pool.max }

// Send delivers m as a multipart/alternative email (text/plain, then text/html) on a
// pooled connection. It returns nil once the server has accepted the message, a
// *RejectedError when the server refused it for good, another error otherwise (the email
// may be tried again). Cancelling ctx closes the connection in use at once, whatever
// phase the conversation is in.
func (t *SMTPTransport) Send(ctx context.Context, m Message) error {
	data, envelopeFrom, rcpts, err := t.compose(m)
	if err != nil {
		return err
	}
	for try := 1; ; try++ {
		c, err := t.pool.get(ctx)
		if err != nil {
			return fmt.Errorf("send email via SMTP %s: wait for a free connection: %w", t.addr, err)
		}
		if c == nil { // a slot is ours: open a connection in it
			if c, err = t.dial(ctx); err != nil {
				t.pool.closed()
				t.stats.failed.Add(1)
				return fmt.Errorf("send email via SMTP %s: %w", t.addr, err)
			}
		}
		out, err := t.deliver(ctx, c, data, envelopeFrom, rcpts)
		switch out {
		case accepted:
			t.stats.sent.Add(1)
			c.messages++
			t.release(c, nil)
			return nil
		case refused:
			t.release(c, err)
			if IsRejected(err) {
				t.stats.rejected.Add(1)
				return err
			}
			t.stats.failed.Add(1)
			return fmt.Errorf("send email via SMTP %s: %w", t.addr, err)
		case broken:
			t.discard(c, err)
			if c.reused && try <= t.pool.max && ctx.Err() == nil {
				// The server closed a connection that had been waiting in the pool: it
				// never got this email, so sending it on another connection is safe. Each
				// pooled connection is tried at most once; a fresh one that fails ends it.
				t.stats.reconnects.Add(1)
				t.logger.InfoContext(ctx, "pooled SMTP connection was closed by the server; sending on a new one",
					slog.Int64("conn", c.id), slog.Int("messages", c.messages), slog.Any("error", err))
				continue
			}
		case unknown:
			t.discard(c, err)
		}
		t.stats.failed.Add(1)
		if ctxErr := contextErr(ctx); ctxErr != nil {
			return fmt.Errorf("send email via SMTP %s: %w (%w)", t.addr, ctxErr, err)
		}
		return fmt.Errorf("send email via SMTP %s: %w", t.addr, err)
	}
}

// compose renders m once, before any connection is used: an email that cannot be
// rendered fails here, and the bytes sent on a second connection are the same.
func (t *SMTPTransport) compose(m Message) (data []byte, from string, rcpts []string, err error) {
	msg := gomail.NewMsg()
	if err := msg.From(t.from); err != nil {
		return nil, "", nil, fmt.Errorf("email sender: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, "", nil, fmt.Errorf("email recipient: %w", err)
	}
	if m.ID != "" {
		if strings.Trim(m.ID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "" {
			return nil, "", nil, fmt.Errorf("email id %q: only letters, digits, '.', '-' and '_' may form a Message-ID", m.ID)
		}
		msg.SetMessageIDWithValue(m.ID + "@" + t.domain)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, "", nil, fmt.Errorf("render email: %w", err)
	}
	if from, err = msg.GetSender(false); err != nil {
		return nil, "", nil, fmt.Errorf("email sender: %w", err)
	}
	if rcpts, err = msg.GetRecipients(); err != nil {
		return nil, "", nil, fmt.Errorf("email recipients: %w", err)
	}
	return buf.Bytes(), from, rcpts, nil
}

// smtpConn is one open SMTP session of the pool.
type smtpConn struct {
	id       int64
	client   *smtp.Client
	conn     net.Conn
	opened   time.Time
	messages int
	// reused: taken from the pool, not opened for this email.
	reused bool
	// needsReset: a transaction failed on it; RSET before the next one.
	needsReset bool
	// unusable: it must be closed, not reused (a 421, a session error).
	unusable  bool
	idleTimer *time.Timer
}

// outcome is what became of one email on one connection.
type outcome int

const (
	// accepted: the server answered the data with 2xx. The email is sent.
	accepted outcome = iota
	// refused: the server answered no (4xx or 5xx); the email was not sent.
	refused
	// broken: the connection failed before the end of the data, or the server closed it
	// (421): the server does not have the email.
	broken
	// unknown: the connection failed while the reply to the data was awaited: the server
	// may have accepted the email. Not retried on the spot; a retry may duplicate it (the
	// same Message-ID then lets mail clients fold the copies).
	unknown
)

// deliver runs one mail transaction on c: RSET if the previous one failed, then MAIL, RCPT,
// DATA and the data, and nothing else, so an email costs four round trips.
func (t *SMTPTransport) deliver(ctx context.Context, c *smtpConn, data []byte, from string, rcpts []string) (out outcome, err error) {
	if err := c.conn.SetDeadline(t.phaseDeadline(ctx)); err != nil {
		return broken, fmt.Errorf("set deadline: %w", err)
	}
	// Deadlines bound a server that stops answering; cancellation closes the connection.
	stop := context.AfterFunc(ctx, func() { _ = c.conn.Close() })
	defer func() {
		if !stop() {
			c.unusable = true // closed by the cancellation
		}
	}()

	if c.needsReset {
		if err := c.client.Reset(); err != nil {
			return broken, fmt.Errorf("RSET: %w", err)
		}
		c.needsReset = false
	}
	if err := c.client.Mail(from); err != nil {
		return c.failed("MAIL", err)
	}
	for _, rcpt := range rcpts {
		if err := c.client.Rcpt(rcpt); err != nil {
			return c.failed("RCPT", err)
		}
	}
	w, err := c.client.Data()
	if err != nil {
		return c.failed("DATA", err)
	}
	if _, err := w.Write(data); err != nil {
		c.unusable = true
		return broken, fmt.Errorf("write data: %w", err)
	}
	if err := w.Close(); err != nil {
		var reply *textproto.Error
		if errors.As(err, &reply) {
			return c.failed("data", err)
		}
		c.unusable = true
		return unknown, fmt.Errorf("await the reply to the data: %w", err)
	}
	return accepted, nil
}

// failed classifies the failure of command: a reply of the server is a refusal (the
// email not sent; the connection goes on after an RSET), except 421 (the server is
// closing the connection); anything else broke the connection.
func (c *smtpConn) failed(command string, err error) (outcome, error) {
	var reply *textproto.Error
	if !errors.As(err, &reply) {
		c.unusable = true
		return broken, fmt.Errorf("%s: %w", command, err)
	}
	c.needsReset = true
	switch {
	case reply.Code == 421:
		c.unusable = true
		return broken, fmt.Errorf("%s: %w", command, err)
	case reply.Code >= 500 && sessionCode(reply.Code):
		c.unusable = true
		return refused, fmt.Errorf("%s: %w (a session error, not the email's)", command, err)
	case reply.Code >= 500:
		return refused, &RejectedError{Command: command, Code: reply.Code, Reply: reply.Msg}
	default:
		return refused, fmt.Errorf("%s: %w", command, err)
	}
}

// release hands c back to the pool, or closes it when it is spent or unusable (after
// cause, the refusal that made it so).
func (t *SMTPTransport) release(c *smtpConn, cause error) {
	switch {
	case c.unusable:
		t.discard(c, cause)
	case t.MaxMessagesPerConnection > 0 && c.messages >= t.MaxMessagesPerConnection:
		t.stats.closedAtLimit.Add(1)
		// QUIT costs a round trip that the email just sent need not wait for; the slot is
		// held until it ends, so the server never sees more connections than the pool's.
		t.background.Go(func() { t.quit(c, "message limit reached") })
	default:
		c.reused = true
		if !t.pool.put(c, t.IdleTimeout, func() { t.expire(c) }) {
			t.background.Go(func() { t.quit(c, "transport closed") })
		}
	}
}

// expire closes c if it is still idle when its idle timer fires.
func (t *SMTPTransport) expire(c *smtpConn) {
	// Counted in background while the pool is locked, so that Close, which shuts the pool
	// first, waits for this QUIT.
	if !t.pool.remove(c, func() { t.background.Add(1) }) {
		return // taken for a send meanwhile, or closed by Close
	}
	t.stats.closedIdle.Add(1)
	go func() {
		defer t.background.Done()
		t.quit(c, "idle")
	}()
}

// quit ends c's session politely and frees its slot. The emails c carried were accepted
// already: a failure here is logged and changes nothing.
func (t *SMTPTransport) quit(c *smtpConn, reason string) {
	defer t.pool.closed()
	_ = c.conn.SetDeadline(time.Now().Add(quitTimeout))
	err := c.client.Quit()
	if err != nil {
		_ = c.client.Close()
	}
	open, _, _ := t.pool.counts()
	log := t.logger.With(slog.Int64("conn", c.id), slog.String("reason", reason),
		slog.Int("messages", c.messages), slog.Duration("open_for", time.Since(c.opened)), slog.Int("open", open-1))
	if err != nil {
		log.Warn("SMTP connection closed; QUIT failed (its emails were accepted before and count as sent)", slog.Any("error", err))
		return
	}
	log.Info("SMTP connection closed")
}

// discard closes c at once, without QUIT: it failed, or it is in an unknown state.
func (t *SMTPTransport) discard(c *smtpConn, cause error) {
	c.stopIdleTimer()
	_ = c.client.Close()
	t.pool.closed()
	t.stats.closedOnError.Add(1)
	// Info: the email's own outcome is logged by the caller (the outbox logs a failure
	// as an error); a server closing a pooled connection is routine.
	t.logger.Info("SMTP connection closed after an error", slog.Int64("conn", c.id),
		slog.Int("messages", c.messages), slog.Duration("open_for", time.Since(c.opened)), slog.Any("error", cause))
}

func (c *smtpConn) stopIdleTimer() {
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
}

// Close closes the idle connections politely and waits for the connections being closed;
// a connection still sending is closed when its email is done. Call it once the
// job system has stopped.
func (t *SMTPTransport) Close() error {
	for _, c := range t.pool.shut() {
		c.stopIdleTimer()
		t.background.Go(func() { t.quit(c, "transport closed") })
	}
	t.background.Wait()
	s := t.Stats()
	t.logger.Info("SMTP transport closed", slog.Int64("connections_opened", s.Opened),
		slog.Int64("sent", s.Sent), slog.Int64("rejected", s.Rejected), slog.Int64("failed", s.Failed),
		slog.Int64("reconnects", s.Reconnects), slog.Float64("messages_per_connection", s.MessagesPerConnection()))
	return nil
}

// dial opens a connection and its session: greeting, EHLO, STARTTLS and AUTH as
// configured.
func (t *SMTPTransport) dial(ctx context.Context) (*smtpConn, error) {
	var (
		nc   net.Conn
		stop = func() bool { return true }
	)
	client, err := t.client(ctx, func(c net.Conn) {
		nc = c
		// go-mail honours ctx while it dials only; afterwards, closing the connection is
		// what interrupts a provider that stopped answering.
		stop = context.AfterFunc(ctx, func() { _ = c.Close() })
	})
	if err != nil {
		return nil, fmt.Errorf("SMTP client: %w", err)
	}
	sc, err := client.DialToSMTPClientWithContext(ctx)
	interrupted := !stop()
	if err == nil && interrupted {
		err = errors.New("connection closed by the cancellation")
	}
	if err != nil {
		if nc != nil {
			_ = nc.Close() // go-mail leaves it open when EHLO, STARTTLS or AUTH fails
		}
		t.stats.openFailures.Add(1)
		if ctxErr := contextErr(ctx); ctxErr != nil {
			return nil, fmt.Errorf("open SMTP session: %w (%w)", ctxErr, err)
		}
		return nil, fmt.Errorf("open SMTP session: %w", err)
	}
	t.stats.opened.Add(1)
	c := &smtpConn{id: t.nextConnID.Add(1), client: sc, conn: nc, opened: time.Now()}
	open, _, _ := t.pool.counts()
	t.logger.Debug("SMTP connection opened", slog.Int64("conn", c.id), slog.Int("open", open))
	return c, nil
}

// contextErr is ctx.Err(), also when ctx's deadline has passed but its timer has not yet
// fired: the connection's deadline is ctx's, so its i/o timeout can come first.
func contextErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// phaseDeadline is when an SMTP phase (opening a connection, one email) must be over:
// Timeout (DefaultSMTPTimeout when unset) from now, or ctx's deadline when earlier.
func (t *SMTPTransport) phaseDeadline(ctx context.Context) time.Time {
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return deadline
}

// client builds a go-mail client for one connection; onConn sees the connection it opens.
func (t *SMTPTransport) client(ctx context.Context, onConn func(net.Conn)) (*gomail.Client, error) {
	timeout := max(time.Until(t.phaseDeadline(ctx)), time.Millisecond)
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
		// Not WithOpportunisticSMTPAuth: when the server offers none of its preferred
		// mechanisms, go-mail falls back to auto-discovery and may use CRAM-MD5, NTLM or
		// SCRAM-SHA-1 (docs/decisions.md). A custom smtp.Auth is used as is.
		opts = append(opts, gomail.WithSMTPAuthCustom(&chosenAuth{host: t.host, username: t.username, password: t.password}))
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

// acceptedAuthMechanisms are the SMTP AUTH mechanisms the transport uses, best first; it
// never uses another.
var acceptedAuthMechanisms = []string{"SCRAM-SHA-256", "PLAIN", "LOGIN"}

// chosenAuth is SMTP AUTH with the first of acceptedAuthMechanisms that the server offers
// in its EHLO reply (the one after STARTTLS). When it offers none, Start fails: go-mail's
// smtp.Client then sends no AUTH command and closes the session. PLAIN and LOGIN refuse
// to send the password unless the connection is encrypted (or the server is localhost);
// SCRAM never sends it.
type chosenAuth struct {
	host, username, password string
	chosen                   smtp.Auth
}

func (a *chosenAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	mech := ""
	for _, accepted := range acceptedAuthMechanisms {
		if slices.ContainsFunc(server.Auth, func(offered string) bool { return strings.EqualFold(offered, accepted) }) {
			mech = accepted
			break
		}
	}
	switch mech {
	case "SCRAM-SHA-256":
		a.chosen = smtp.ScramSHA256Auth(a.username, a.password)
	case "PLAIN":
		a.chosen = smtp.PlainAuth("", a.username, a.password, a.host, false)
	case "LOGIN":
		a.chosen = smtp.LoginAuth(a.username, a.password, a.host, false)
	default:
		offered := "none (no AUTH extension)"
		if len(server.Auth) > 0 {
			offered = strings.Join(server.Auth, " ")
		}
		return "", nil, fmt.Errorf("the SMTP server offers no AUTH mechanism the service accepts: it offers %s; accepted: %s",
			offered, strings.Join(acceptedAuthMechanisms, ", "))
	}
	return a.chosen.Start(server)
}

func (a *chosenAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if a.chosen == nil {
		return nil, errors.New("SMTP AUTH challenge before a mechanism was chosen")
	}
	return a.chosen.Next(fromServer, more)
}
