// Package smtptest runs a real SMTP server (emersion/go-smtp) inside a test process, to
// test mail delivery end to end: it keeps what it receives, counts the connections it
// serves, can answer every command after a delay (a provider across a network), and a test
// can make it reject, hang or drop the connection, like a misbehaving mail provider.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a Server. The zero value is a plain-text server on a free port of
// 127.0.0.1 with no authentication.
type Options struct {
	// Addr is the address to listen on ("127.0.0.1:0" when empty).
	Addr string
	// TLS is "none" (default), "starttls" (offered) or "tls" (implicit TLS).
	TLS string
	// Username and Password, when Username is set, make AUTH required (PLAIN unless
	// AuthMechanisms says otherwise).
	Username, Password string
	// AuthMechanisms are the mechanisms the server offers in its AUTH extension when
	// Username is set (default PLAIN). PLAIN and LOGIN work; any other (CRAM-MD5,
	// XOAUTH2…) is only advertised: an AUTH with it is refused with 504. Server.AuthAttempts
	// tells which mechanisms clients tried.
	AuthMechanisms []string
	// ReplyDelay holds every reply of the server (the greeting, and the TLS handshake's
	// records too) back this long, as a network between client and server would: each
	// command the client waits for costs one ReplyDelay, its round trip. Replies keep their
	// order and the delay does not add up: a multi-line reply costs it once.
	ReplyDelay time.Duration
}

// ErrDrop is for a hook (OnMail, OnRcpt, OnData) to return: the server closes the
// connection at once without a reply, keeping nothing, like a provider that crashed or a
// network that broke mid-session.
var ErrDrop = errors.New("smtptest: drop the connection")

// ErrAcceptThenDrop is for an OnData hook to return: the server keeps the message and
// answers 250, then closes the connection, unanswered, as soon as the client sends its
// next command (RSET, MAIL or QUIT). The message was delivered; only the rest of the
// session failed.
var ErrAcceptThenDrop = errors.New("smtptest: accept the data, then drop the connection")

// ErrKeepThenDrop is for an OnData hook to return: the server keeps the message, then
// closes the connection before answering. The client cannot know that the message was
// delivered: the one case where a retry may deliver it twice.
var ErrKeepThenDrop = errors.New("smtptest: keep the data, then drop the connection unanswered")

// SessionInfo tells a hook where a command arrived.
type SessionInfo struct {
	// Conn numbers the connection: 1 for the first the server accepted.
	Conn int
	// Accepted counts the messages accepted on this connection before this command.
	Accepted int
}

// Received is one email as the server got it.
type Received struct {
	From string
	To   []string
	Data []byte
	At   time.Time
	// Authenticated is the username the client logged in with ("" without AUTH).
	Authenticated string
	// Conn is the connection that carried it (SessionInfo.Conn).
	Conn int
}

// Server is a running SMTP server. Its methods are safe for concurrent use.
type Server struct {
	// Host and Port are where it listens.
	Host string
	Port int
	// RootCAs trusts the server's certificate (TLS modes).
	RootCAs *x509.CertPool

	srv        *smtp.Server
	released   chan struct{}
	replyDelay time.Duration

	mu       sync.Mutex
	received []Received
	onData   func(to []string) error
	onMail   func(SessionInfo) error
	onRcpt   func(to string) error
	// conns maps a client's address to its connection, for the sessions' hooks.
	conns         map[string]*conn
	replies       atomic.Int64 // replies written on plain-text connections
	authAttempts  []string     // the mechanism of each AUTH command, in order
	accepted      int          // connections accepted so far
	open, maxOpen int          // connections open now, and at most at once
}

// Start starts a server and closes it when t's test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := start(opts)
	if err != nil {
		t.Fatalf("start SMTP server: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func start(opts Options) (*Server, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s := &Server{released: make(chan struct{}), replyDelay: opts.ReplyDelay, conns: map[string]*conn{}}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		sess := &session{server: s, conn: s.connOf(c.Conn().RemoteAddr())}
		if opts.Username != "" {
			mechs := opts.AuthMechanisms
			if len(mechs) == 0 {
				mechs = []string{sasl.Plain}
			}
			return &authSession{session: sess, username: opts.Username, password: opts.Password, mechs: mechs}, nil
		}
		return sess, nil
	}))
	s.srv.Domain = "smtptest.localhost"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.ErrorLog = discardLogger{}

	tcpLn, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	// Connections are wrapped beneath TLS, so the delay and the drops act on the wire.
	var ln net.Listener = &listener{Listener: tcpLn, server: s}
	if opts.TLS == "starttls" || opts.TLS == "tls" {
		cert, pool, err := selfSigned()
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		s.RootCAs = pool
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if opts.TLS == "starttls" {
			s.srv.TLSConfig = cfg
		} else {
			ln = tls.NewListener(ln, cfg)
		}
	}
	tcp := tcpLn.Addr().(*net.TCPAddr)
	s.Host, s.Port = tcp.IP.String(), tcp.Port
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server, cutting open connections, and ends any hang of OnData.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.released:
	default:
		close(s.released)
	}
	s.mu.Unlock()
	_ = s.srv.Close()
}

// Released is closed when the server is closed: an OnData hook that hangs should wait for
// it, so that it ends with the test.
func (s *Server) Released() <-chan struct{} { return s.released }

// OnData sets a hook run when a message's data arrives, before it is kept: an error is
// the server's reply (an *smtp.SMTPError chooses the code, say 550); ErrDrop,
// ErrAcceptThenDrop and ErrKeepThenDrop drop the connection at different points; a hook
// that blocks is a provider that hangs. nil accepts everything.
func (s *Server) OnData(hook func(to []string) error) {
	s.mu.Lock()
	s.onData = hook
	s.mu.Unlock()
}

// OnMail sets a hook run when a MAIL command arrives: an error is the server's reply (an
// *smtp.SMTPError chooses the code, say 421 or 550), ErrDrop closes the connection. nil
// accepts everything.
func (s *Server) OnMail(hook func(SessionInfo) error) {
	s.mu.Lock()
	s.onMail = hook
	s.mu.Unlock()
}

// OnRcpt sets a hook run when a RCPT command arrives: an error is the server's reply (say
// 550 for an unknown mailbox), ErrDrop closes the connection. nil accepts everything.
func (s *Server) OnRcpt(hook func(to string) error) {
	s.mu.Lock()
	s.onRcpt = hook
	s.mu.Unlock()
}

// Connections returns how many connections the server has accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// AuthAttempts returns the mechanism of every AUTH command the server received so far,
// in order, including those it refused.
func (s *Server) AuthAttempts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.authAttempts...)
}

// Replies returns how many replies the server has written on plain-text connections (TLS
// hides them): each is one round trip of the client, so a test can count them.
func (s *Server) Replies() int { return int(s.replies.Load()) }

// OpenConnections returns how many connections are open now, and the most that were open
// at once.
func (s *Server) OpenConnections() (now, most int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open, s.maxOpen
}

// Received returns the emails accepted so far.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// To returns the emails accepted for addr.
func (s *Server) To(addr string) []Received {
	var out []Received
	for _, r := range s.Received() {
		for _, to := range r.To {
			if strings.EqualFold(to, addr) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// WaitFor returns the first email accepted for addr, failing t after timeout.
func (s *Server) WaitFor(t testing.TB, addr string, timeout time.Duration) Received {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if got := s.To(addr); len(got) > 0 {
			return got[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no email for %s reached the SMTP server within %v", addr, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Email is a received message taken apart.
type Email struct {
	From, To, Subject string
	// MediaType is the top-level content type, e.g. "multipart/alternative".
	MediaType string
	// PartTypes are the media types of the parts, in order.
	PartTypes []string
	// Text and HTML are the decoded text/plain and text/html parts.
	Text, HTML string
}

// Parse takes apart a received message (headers, multipart/alternative body, quoted-
// printable decoded by mime/multipart).
func Parse(data []byte) (Email, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return Email{}, fmt.Errorf("read message: %w", err)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Email{}, fmt.Errorf("decode subject: %w", err)
	}
	e := Email{From: msg.Header.Get("From"), To: msg.Header.Get("To"), Subject: subject}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return Email{}, fmt.Errorf("content type: %w", err)
	}
	e.MediaType = mediaType
	if !strings.HasPrefix(mediaType, "multipart/") {
		return e, nil
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return e, nil
		}
		if err != nil {
			return Email{}, fmt.Errorf("next part: %w", err)
		}
		pt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil {
			return Email{}, fmt.Errorf("part content type: %w", err)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			return Email{}, fmt.Errorf("read %s part: %w", pt, err)
		}
		e.PartTypes = append(e.PartTypes, pt)
		switch pt {
		case "text/plain":
			e.Text = strings.ReplaceAll(string(body), "\r\n", "\n")
		case "text/html":
			e.HTML = strings.ReplaceAll(string(body), "\r\n", "\n")
		}
	}
}

type session struct {
	server *Server
	conn   *conn // nil only if the connection was not seen by the listener
	from   string
	to     []string
	user   string
}

func (s *session) info() SessionInfo {
	if s.conn == nil {
		return SessionInfo{}
	}
	return SessionInfo{Conn: s.conn.id, Accepted: int(s.conn.accepted.Load())}
}

// fault turns a hook's error into the server's answer: ErrDrop closes the connection at
// once (the reply then goes nowhere); any other error is the reply.
func (s *session) fault(err error) error {
	if errors.Is(err, ErrDrop) && s.conn != nil {
		s.conn.abort()
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 0}, Message: "dropped"}
	}
	return err
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.server.mu.Lock()
	hook := s.server.onMail
	s.server.mu.Unlock()
	if hook != nil {
		if err := hook(s.info()); err != nil {
			return s.fault(err)
		}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.server.mu.Lock()
	hook := s.server.onRcpt
	s.server.mu.Unlock()
	if hook != nil {
		if err := hook(to); err != nil {
			return s.fault(err)
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read data: %w", err)
	}
	s.server.mu.Lock()
	hook := s.server.onData
	s.server.mu.Unlock()
	var after error // ErrAcceptThenDrop or ErrKeepThenDrop: keep the message, then drop
	if hook != nil {
		if err := hook(s.to); errors.Is(err, ErrAcceptThenDrop) || errors.Is(err, ErrKeepThenDrop) {
			after = err
		} else if err != nil {
			return s.fault(err)
		}
	}
	info := s.info()
	s.server.mu.Lock()
	s.server.received = append(s.server.received, Received{
		From: s.from, To: append([]string(nil), s.to...), Data: data, At: time.Now(),
		Authenticated: s.user, Conn: info.Conn,
	})
	s.server.mu.Unlock()
	if s.conn != nil {
		s.conn.accepted.Add(1)
	}
	switch {
	case errors.Is(after, ErrKeepThenDrop):
		return s.fault(ErrDrop)
	case errors.Is(after, ErrAcceptThenDrop) && s.conn != nil:
		s.conn.dropOnNextCommand.Store(true)
	}
	return nil
}

// authSession requires AUTH before MAIL, with one of mechs.
type authSession struct {
	*session
	username, password string
	mechs              []string
}

func (s *authSession) AuthMechanisms() []string { return s.mechs }

func (s *authSession) Auth(mech string) (sasl.Server, error) {
	s.server.mu.Lock()
	s.server.authAttempts = append(s.server.authAttempts, mech)
	s.server.mu.Unlock()
	offered := false
	for _, m := range s.mechs {
		offered = offered || strings.EqualFold(m, mech)
	}
	check := func(username, password string) error {
		if username != s.username || password != s.password {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}
	switch {
	case offered && mech == sasl.Plain:
		return sasl.NewPlainServer(func(_, username, password string) error { return check(username, password) }), nil
	case offered && mech == sasl.Login:
		return &loginServer{check: check}, nil
	default:
		return nil, smtp.ErrAuthUnknownMechanism
	}
}

// loginServer is the server side of AUTH LOGIN: it asks for the username, then the
// password (a username sent with the command is taken as the first answer).
type loginServer struct {
	check    func(username, password string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch {
	case l.step == 0 && response == nil:
		l.step = 1
		return []byte("Username:"), false, nil
	case l.step <= 1:
		l.step, l.username = 2, string(response)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.username, string(response))
	}
}

func (s *authSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	return s.session.Mail(from, opts)
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("parse certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}
