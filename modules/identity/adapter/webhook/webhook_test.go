package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// TestSign: the example of the Standard Webhooks reference libraries.
func TestSign(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestCheckAddr(t *testing.T) {
	refused := []string{"127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "fe80::1",
		"fc00::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "100.64.0.1", "::ffff:127.0.0.1"}
	allowed := []string{"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"}
	for _, a := range refused {
		if err := (Guard{}).checkAddr(netip.MustParseAddr(a)); err == nil {
			t.Errorf("%s allowed without AllowPrivate", a)
		}
		if err := (Guard{AllowPrivate: true}).checkAddr(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s refused with AllowPrivate: %v", a, err)
		}
	}
	for _, a := range allowed {
		if err := (Guard{}).checkAddr(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s refused: %v", a, err)
		}
	}
}

func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://127.0.0.1/hook", false, false},
		{"https://localhost/hook", false, false},
		{"http://127.0.0.1/hook", false, false},
		{"http://127.0.0.1/hook", true, true},
		{"https://10.0.0.1/hook", true, true},
		{"https://93.184.216.34/hook", false, true},
		{"http://93.184.216.34/hook", false, false},
		{"ftp://93.184.216.34/hook", true, false},
		{"/relative", true, false},
		{"https://user:pw@93.184.216.34/", false, false},
		{"https://no-such-host.invalid/", true, false},
	} {
		err := Guard{AllowPrivate: c.allowPrivate}.CheckURL(ctx, c.url)
		var verr *domain.ValidationError
		switch {
		case c.ok && err != nil:
			t.Errorf("CheckURL(%s, private %v) = %v, want nil", c.url, c.allowPrivate, err)
		case !c.ok && !errors.As(err, &verr):
			t.Errorf("CheckURL(%s, private %v) = %v, want a validation error", c.url, c.allowPrivate, err)
		}
	}
}

// TestClient: without AllowPrivate the client never connects to a
// loopback address, even over https; it follows no redirect and reads a bounded body.
func TestClient(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		_, _ = io.Copy(w, strings.NewReader(strings.Repeat("x", 1<<20)))
	}))
	t.Cleanup(srv.Close)
	m := Message{URL: srv.URL, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ID: "e1", Body: []byte(`{}`)}

	// The scheme is refused first; the dialer refuses the address whatever the scheme.
	if _, err := NewClient(Guard{}).Post(context.Background(), m); err == nil {
		t.Fatal("http to loopback posted without AllowPrivate")
	}
	guard := Guard{}
	if err := guard.control("tcp", srv.Listener.Addr().String(), nil); err == nil {
		t.Fatal("the dialer's control let a loopback address through")
	}
	c := NewClient(Guard{})
	c.guard.AllowPrivate = true // the scheme check passes; the dialer's guard still refuses
	if _, err := c.Post(context.Background(), m); err == nil || !strings.Contains(err.Error(), "refused 127.0.0.1") {
		t.Fatalf("posted to a loopback address through a dialer that refuses it: %v", err)
	}
	if _, err := c.Post(context.Background(), m); err == nil || strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("the error %q names the endpoint's URL (which may hold a token)", err)
	}
	if hits != 0 {
		t.Fatalf("the server was hit %d times", hits)
	}

	ok := NewClient(Guard{AllowPrivate: true})
	status, err := ok.Post(context.Background(), m)
	if err != nil || status != http.StatusOK {
		t.Fatalf("Post = %d, %v", status, err)
	}
	m.URL = srv.URL + "/redirect"
	status, err = ok.Post(context.Background(), m)
	if err != nil || status != http.StatusFound || hits != 2 {
		t.Fatalf("redirect: Post = %d, %v after %d hits; want the 302 itself, not followed", status, err, hits)
	}
}
