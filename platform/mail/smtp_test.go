package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/mail/smtptest"
)

var testMessage = Message{
	To:      "alice@example.com",
	Subject: "Your activation code",
	Text:    "Your code is:\n\n0427\n\nIt expires in 1 minute.\n",
	HTML:    "<p>Your code is:</p>\n<p><b>0427</b></p>\n",
}

// transportTo returns a transport to srv in the given TLS mode, trusting srv's certificate.
func transportTo(t *testing.T, srv *smtptest.Server, tlsMode, username, password string) *SMTPTransport {
	t.Helper()
	tr, err := NewSMTPTransport(config.SMTP{
		Host: srv.Host, Port: srv.Port, Username: username, Password: password, TLS: tlsMode,
	}, "Identity <no-reply@example.com>", nil)
	if err != nil {
		t.Fatalf("NewSMTPTransport: %v", err)
	}
	if srv.RootCAs != nil {
		tr.tlsConfig = &tls.Config{RootCAs: srv.RootCAs, ServerName: srv.Host, MinVersion: tls.VersionTLS12}
	}
	return tr
}

func TestSMTPTransportSendsMultipartAlternative(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	tr := transportTo(t, srv, "none", "", "")
	if err := tr.Send(context.Background(), testMessage); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.WaitFor(t, "alice@example.com", time.Second)
	if got.From != "no-reply@example.com" || len(got.To) != 1 || got.Authenticated != "" {
		t.Errorf("envelope from %q to %v auth %q; want no-reply@example.com, [alice@example.com], no AUTH", got.From, got.To, got.Authenticated)
	}
	e, err := smtptest.Parse(got.Data)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, got.Data)
	}
	if e.From != `"Identity" <no-reply@example.com>` && e.From != "Identity <no-reply@example.com>" {
		t.Errorf("From header %q, want Identity <no-reply@example.com>", e.From)
	}
	if e.To != "<alice@example.com>" && e.To != "alice@example.com" {
		t.Errorf("To header %q, want alice@example.com", e.To)
	}
	if e.Subject != testMessage.Subject {
		t.Errorf("Subject %q, want %q", e.Subject, testMessage.Subject)
	}
	if e.MediaType != "multipart/alternative" || strings.Join(e.PartTypes, ",") != "text/plain,text/html" {
		t.Fatalf("structure %s [%s], want multipart/alternative [text/plain,text/html]", e.MediaType, strings.Join(e.PartTypes, ","))
	}
	if e.Text != testMessage.Text {
		t.Errorf("text part %q, want %q", e.Text, testMessage.Text)
	}
	if e.HTML != testMessage.HTML {
		t.Errorf("html part %q, want %q", e.HTML, testMessage.HTML)
	}
}

func TestSMTPTransportTLSModesAndAuth(t *testing.T) {
	tests := []struct {
		name       string
		serverTLS  string
		clientTLS  string
		user, pass string
		wantErr    string // "" for success
	}{
		{name: "starttls with auth", serverTLS: "starttls", clientTLS: "starttls", user: "smtp-user", pass: "s3cret"},
		{name: "implicit tls with auth", serverTLS: "tls", clientTLS: "tls", user: "smtp-user", pass: "s3cret"},
		{name: "starttls without auth", serverTLS: "starttls", clientTLS: "starttls"},
		{name: "starttls required but not offered", serverTLS: "none", clientTLS: "starttls", wantErr: "STARTTLS"},
		{name: "wrong password", serverTLS: "starttls", clientTLS: "starttls", user: "smtp-user", pass: "wrong", wantErr: "535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serverUser, serverPass := tt.user, tt.pass
			if tt.name == "wrong password" {
				serverPass = "s3cret"
			}
			srv := smtptest.Start(t, smtptest.Options{TLS: tt.serverTLS, Username: serverUser, Password: serverPass})
			tr := transportTo(t, srv, tt.clientTLS, tt.user, tt.pass)
			err := tr.Send(context.Background(), testMessage)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Send error %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), tt.pass) && tt.pass != "" {
					t.Errorf("error %q reveals the password", err)
				}
				if n := len(srv.Received()); n != 0 {
					t.Errorf("server accepted %d emails, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got := srv.WaitFor(t, "alice@example.com", time.Second); got.Authenticated != tt.user {
				t.Errorf("authenticated as %q, want %q", got.Authenticated, tt.user)
			}
		})
	}
}

func TestSMTPTransportReportsRejection(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	srv.OnData(func([]string) error {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "message refused"}
	})
	err := transportTo(t, srv, "none", "", "").Send(context.Background(), testMessage)
	if err == nil || !strings.Contains(err.Error(), "554") {
		t.Fatalf("Send error %v, want the server's 554 reply", err)
	}
}

func TestSMTPTransportServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close() // nothing listens there now
	tr, err := NewSMTPTransport(config.SMTP{Host: "127.0.0.1", Port: port, TLS: "none"}, "no-reply@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := tr.Send(context.Background(), testMessage); err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("a refused connection took %v to fail", took)
	}
}

func TestSMTPTransportHonoursContext(t *testing.T) {
	for _, tt := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{})
			srv.OnData(func([]string) error { <-srv.Released(); return nil }) // hangs after DATA
			tr := transportTo(t, srv, "none", "", "")
			tr.Timeout = time.Minute // only the context may end the send
			ctx, cancel := tt.ctx()
			defer cancel()
			begin := time.Now()
			err := tr.Send(ctx, testMessage)
			if took := time.Since(begin); took > 2*time.Second {
				t.Errorf("Send returned %v after its context ended, want promptly", took-300*time.Millisecond)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Send error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewSMTPTransportRejectsBadConfiguration(t *testing.T) {
	good := config.SMTP{Host: "smtp.example.com", Port: 587, TLS: "starttls"}
	tests := map[string]struct {
		cfg  config.SMTP
		from string
	}{
		"empty host":      {config.SMTP{Port: 587, TLS: "starttls"}, "a@example.com"},
		"bad port":        {config.SMTP{Host: "h", Port: 0, TLS: "starttls"}, "a@example.com"},
		"bad tls mode":    {config.SMTP{Host: "h", Port: 587, TLS: "ssl"}, "a@example.com"},
		"bad from":        {good, "not an address"},
		"empty from":      {good, ""},
		"unbalanced from": {good, "Identity <no-reply@localhost"},
	}
	for name, tt := range tests {
		if _, err := NewSMTPTransport(tt.cfg, tt.from, nil); err == nil {
			t.Errorf("%s: NewSMTPTransport accepted %+v from %q", name, tt.cfg, tt.from)
		}
	}
	if _, err := NewSMTPTransport(good, "Identity <no-reply@localhost>", nil); err != nil {
		t.Errorf("the default MAIL_FROM is refused: %v", err)
	}
}

// TestSMTPTransportAuthUsesOnlyChosenMechanisms: AUTH uses SCRAM-SHA-256, PLAIN or LOGIN,
// the first the server offers, and nothing else; a server offering none of them is not
// sent any AUTH command, and the error names what it offers and what is accepted.
func TestSMTPTransportAuthUsesOnlyChosenMechanisms(t *testing.T) {
	tests := []struct {
		name    string
		offered []string // nil: the server offers no AUTH extension at all
		want    string   // the mechanism used; "" when connecting must fail
		wantErr []string
	}{
		{name: "only CRAM-MD5", offered: []string{"CRAM-MD5"},
			wantErr: []string{"offers CRAM-MD5", "accepted: SCRAM-SHA-256, PLAIN, LOGIN"}},
		{name: "only XOAUTH2 and NTLM", offered: []string{"XOAUTH2", "NTLM"},
			wantErr: []string{"offers XOAUTH2 NTLM", "accepted: SCRAM-SHA-256, PLAIN, LOGIN"}},
		{name: "no AUTH extension", offered: nil,
			wantErr: []string{"offers none", "accepted: SCRAM-SHA-256, PLAIN, LOGIN"}},
		{name: "only PLAIN", offered: []string{"PLAIN"}, want: "PLAIN"},
		{name: "only LOGIN", offered: []string{"LOGIN"}, want: "LOGIN"},
		{name: "CRAM-MD5 before PLAIN", offered: []string{"CRAM-MD5", "PLAIN", "LOGIN"}, want: "PLAIN"},
		{name: "CRAM-MD5 and LOGIN", offered: []string{"CRAM-MD5", "LOGIN"}, want: "LOGIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := smtptest.Options{TLS: "starttls", Username: "smtp-user", Password: "s3cret", AuthMechanisms: tt.offered}
			if tt.offered == nil {
				opts.Username, opts.Password = "", ""
			}
			srv := smtptest.Start(t, opts)
			err := transportTo(t, srv, "starttls", "smtp-user", "s3cret").Send(context.Background(), testMessage)
			attempts := srv.AuthAttempts()
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Send succeeded against a server offering %v", tt.offered)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("Send error %q, want it to mention %q", err, want)
					}
				}
				if len(attempts) != 0 {
					t.Errorf("the client tried AUTH %v, want no AUTH command", attempts)
				}
				if n := len(srv.Received()); n != 0 {
					t.Errorf("server accepted %d emails, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if len(attempts) != 1 || attempts[0] != tt.want {
				t.Errorf("AUTH attempts %v, want one with %s", attempts, tt.want)
			}
			if got := srv.WaitFor(t, "alice@example.com", time.Second); got.Authenticated != "smtp-user" {
				t.Errorf("authenticated as %q, want smtp-user", got.Authenticated)
			}
		})
	}
}

func TestNewSMTPTransportRefusesPlainTextAuthToRemoteHost(t *testing.T) {
	cfg := config.SMTP{Host: "smtp.example.com", Port: 25, TLS: "none", Username: "identity", Password: "s3cret"}
	if _, err := NewSMTPTransport(cfg, "no-reply@example.com", nil); err == nil || !strings.Contains(err.Error(), "SMTP_HOST") {
		t.Fatalf("NewSMTPTransport(%+v) error %v, want a refusal naming SMTP_HOST", cfg, err)
	}
	cfg.Host = "127.0.0.1"
	if _, err := NewSMTPTransport(cfg, "no-reply@example.com", nil); err != nil {
		t.Fatalf("NewSMTPTransport to 127.0.0.1: %v", err)
	}
}
