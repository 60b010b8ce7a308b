package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Mailbox is the in-process SMTP server the service sends to: it records when each
// address's email arrives and hands its activation code to whoever waits for it.
type Mailbox struct {
	srv  *smtp.Server
	Host string
	Port int

	mu      sync.Mutex
	entries map[string]*mailEntry
	// strangers counts emails to addresses nobody registered in this run.
	strangers int
	// resets counts password-reset emails (an 8-digit code), which the reset and busy
	// steps cause for accounts they set up; they are neither receipts nor strangers.
	resets int
}

type mailEntry struct {
	// acceptedAt is when the client read the 201 of the registration (zero until then).
	acceptedAt time.Time
	receivedAt time.Time
	receipts   int
	code       chan string
}

// StartMailbox listens on a free port of 127.0.0.1.
func StartMailbox() (*Mailbox, error) {
	m := &Mailbox{entries: make(map[string]*mailEntry)}
	m.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailSession{box: m}, nil
	}))
	m.srv.Domain = "bench.localhost"
	m.srv.ReadTimeout = time.Minute
	m.srv.WriteTimeout = time.Minute
	m.srv.MaxMessageBytes = 1 << 20
	m.srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("SMTP listen: %w", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	m.Host, m.Port = addr.IP.String(), addr.Port
	go func() { _ = m.srv.Serve(ln) }()
	return m, nil
}

// Close stops the server.
func (m *Mailbox) Close() { _ = m.srv.Close() }

// Expect announces that address is about to be registered; the email may arrive before
// the client has read the response.
func (m *Mailbox) Expect(address string) <-chan string {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := &mailEntry{code: make(chan string, 1)}
	m.entries[address] = e
	return e.code
}

// Accepted records when the registration of address answered 201.
func (m *Mailbox) Accepted(address string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[address]; e != nil {
		e.acceptedAt = at
	}
}

// Forget drops addresses whose registration did not answer 201, so they count neither as
// lost nor as delivered (an email may still come for one whose client gave up: it counts
// as a stranger then only if it is a second one).
func (m *Mailbox) Forget(address string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[address]; e != nil && e.receipts == 0 {
		delete(m.entries, address)
	}
}

func (m *Mailbox) receive(to, code string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[to]
	if e == nil {
		m.strangers++
		return
	}
	e.receipts++
	if e.receipts == 1 {
		e.receivedAt = at
		e.code <- code
	}
}

func (m *Mailbox) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resets++
}

// Resets returns how many password-reset emails arrived, and forgets them.
func (m *Mailbox) Resets() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.resets
	m.resets = 0
	return n
}

// Tally is what the mailbox saw of a set of addresses.
type Tally struct {
	Expected   int // registrations answered 201
	Delivered  int
	Lost       int
	Duplicated int // receipts beyond the first, plus emails to strangers
	// Delivery is the time from the 201 to the SMTP receipt, of the emails whose 201
	// came inside the measured window (summarised in StepResult.DeliverySummary).
	Delivery Latencies `json:"-"`
}

// Tally counts the addresses in addresses and forgets them. Only 201s inside [from, to)
// contribute delivery latencies.
func (m *Mailbox) Tally(addresses []string, from, to time.Time) Tally {
	m.mu.Lock()
	defer m.mu.Unlock()
	var t Tally
	for _, a := range addresses {
		e := m.entries[a]
		if e == nil || e.acceptedAt.IsZero() {
			continue
		}
		t.Expected++
		switch e.receipts {
		case 0:
			t.Lost++
		default:
			t.Delivered++
			t.Duplicated += e.receipts - 1
			if !e.acceptedAt.Before(from) && e.acceptedAt.Before(to) {
				t.Delivery = append(t.Delivery, max(e.receivedAt.Sub(e.acceptedAt), 0))
			}
		}
		delete(m.entries, a)
	}
	t.Duplicated += m.strangers
	m.strangers = 0
	return t
}

// Pending counts the addresses among addresses answered 201 whose email has not arrived.
func (m *Mailbox) Pending(addresses []string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, a := range addresses {
		if e := m.entries[a]; e != nil && !e.acceptedAt.IsZero() && e.receipts == 0 {
			n++
		}
	}
	return n
}

type mailSession struct {
	box *Mailbox
	to  []string
}

func (s *mailSession) Reset()        { s.to = nil }
func (s *mailSession) Logout() error { return nil }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, strings.ToLower(to))
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read message: %w", err)
	}
	at := time.Now()
	code, err := activationCode(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "bench: " + err.Error()}
	}
	for _, to := range s.to {
		if len(code) == 8 {
			s.box.reset()
			continue
		}
		s.box.receive(to, code, at)
	}
	return nil
}

var codeLine = regexp.MustCompile(`(?m)^\s*([0-9]{4}|[0-9]{8})\s*$`)

// activationCode finds the code (4 digits; 8 for a password reset) alone on its line in the text/plain part of a
// multipart/alternative email.
func activationCode(raw []byte) (string, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("parse message: %w", err)
	}
	text, err := plainText(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	if err != nil {
		return "", err
	}
	m := codeLine.FindSubmatch(text)
	if m == nil {
		return "", errors.New("no code on a line of its own in the text/plain part")
	}
	return string(m[1]), nil
}

func plainText(contentType, encoding string, body io.Reader) ([]byte, error) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err != nil {
				return nil, fmt.Errorf("no text/plain part: %w", err)
			}
			text, err := plainText(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part)
			if err == nil {
				return text, nil
			}
		}
	}
	if mediaType != "text/plain" {
		return nil, fmt.Errorf("%s is not text/plain", mediaType)
	}
	var r io.Reader = bufio.NewReader(body)
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	text, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decode text/plain: %w", err)
	}
	return text, nil
}
