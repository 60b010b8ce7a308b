package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/acme/identity/api/client"
	"github.com/acme/identity/platform/mail/smtptest"
	"github.com/acme/identity/platform/poll"
)

// TestGeneratedClientDrivesTheWholeFlow uses only the client generated from
// api/openapi.yaml to register, read the code from the SMTP server, ask for a new code,
// activate, read the account and ask again: a consumer's code generator can use our
// document. Its exchanges are validated against the document too.
func TestGeneratedClientDrivesTheWholeFlow(t *testing.T) {
	t.Parallel()
	smtpServer := smtptest.Start(t, smtptest.Options{})
	ts := startMailServer(t, smtpServer.Port, nil, "")
	ctx := context.Background()
	c, err := client.NewClientWithResponses(ts.URL, client.WithHTTPClient(&http.Client{Transport: contractTransport{t}}))
	if err != nil {
		t.Fatal(err)
	}
	const email, password = "carla@example.com", "correct horse battery"
	basic := func(_ context.Context, req *http.Request) error { req.SetBasicAuth(email, password); return nil }

	// Register: 201, pending, and the code arrives by SMTP.
	reg, err := c.RegisterWithResponse(ctx, nil, client.RegisterJSONRequestBody{Email: " Carla@Example.com ", Password: password})
	if err != nil || reg.JSON201 == nil {
		t.Fatalf("register: %v, status %d %s", err, reg.StatusCode(), reg.Body)
	}
	if reg.JSON201.Status != client.UserStatusPending || string(reg.JSON201.Email) != email || reg.JSON201.ActivatedAt != nil {
		t.Fatalf("registered user %+v", reg.JSON201)
	}
	first := parseReceived(t, smtpServer.WaitFor(t, email, 5*time.Second), email)

	// A new code at once: 429 rate_limited with Retry-After.
	again, err := c.ResendActivationCodeWithResponse(ctx, nil, basic)
	if err != nil || again.ApplicationproblemJSON429 == nil || again.ApplicationproblemJSON429.Code != "rate_limited" {
		t.Fatalf("resend at once: %v, status %d %s", err, again.StatusCode(), again.Body)
	}
	if ra, err := strconv.Atoi(again.HTTPResponse.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", again.HTTPResponse.Header.Get("Retry-After"))
	}

	// Once the interval has passed: 202 with the new code's times, and a second email.
	ts.ageCode(t, email, 31*time.Second)
	resent, err := c.ResendActivationCodeWithResponse(ctx, nil, basic)
	if err != nil || resent.JSON202 == nil {
		t.Fatalf("resend: %v, status %d %s", err, resent.StatusCode(), resent.Body)
	}
	if !resent.JSON202.ResendAfter.Before(resent.JSON202.ExpiresAt) {
		t.Fatalf("resend_after %v is not before expires_at %v", resent.JSON202.ResendAfter, resent.JSON202.ExpiresAt)
	}
	poll.Until(t, 5*time.Second, "the second email arrives", func() bool { return len(smtpServer.To(email)) == 2 })
	latest := parseReceived(t, smtpServer.To(email)[1], email)

	// The superseded code is refused and counted; the latest activates.
	if first != latest {
		wrong, err := c.ActivateWithResponse(ctx, nil, client.ActivateJSONRequestBody{Code: first}, basic)
		if err != nil || wrong.ApplicationproblemJSON400 == nil || wrong.ApplicationproblemJSON400.Code != "invalid_code" ||
			wrong.ApplicationproblemJSON400.AttemptsRemaining == nil || *wrong.ApplicationproblemJSON400.AttemptsRemaining != 4 {
			t.Fatalf("activate with the superseded code: %v, status %d %s", err, wrong.StatusCode(), wrong.Body)
		}
	}
	act, err := c.ActivateWithResponse(ctx, nil, client.ActivateJSONRequestBody{Code: latest}, basic)
	if err != nil || act.JSON200 == nil || act.JSON200.Status != client.UserStatusActive || act.JSON200.ActivatedAt == nil {
		t.Fatalf("activate: %v, status %d %s", err, act.StatusCode(), act.Body)
	}

	// Me: the active account, the same id.
	me, err := c.MeWithResponse(ctx, nil, basic)
	if err != nil || me.JSON200 == nil || me.JSON200.Status != client.UserStatusActive || me.JSON200.Id != reg.JSON201.Id {
		t.Fatalf("me: %v, status %d %s", err, me.StatusCode(), me.Body)
	}

	// Another code for an active account: 409 already_active.
	done, err := c.ResendActivationCodeWithResponse(ctx, nil, basic)
	if err != nil || done.ApplicationproblemJSON409 == nil || done.ApplicationproblemJSON409.Code != "already_active" {
		t.Fatalf("resend when active: %v, status %d %s", err, done.StatusCode(), done.Body)
	}

	// Without credentials: 401 with the challenge.
	anon, err := c.MeWithResponse(ctx, nil)
	if err != nil || anon.ApplicationproblemJSON401 == nil || anon.HTTPResponse.Header.Get("WWW-Authenticate") != `Basic realm="identity", charset="UTF-8"` {
		t.Fatalf("me without credentials: %v, status %d %s", err, anon.StatusCode(), anon.Body)
	}
}

// contractTransport sends requests with the default transport and validates each exchange
// against the OpenAPI document, as the harness does for its own requests.
type contractTransport struct{ t *testing.T }

func (ct contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	sent := requestBody(ct.t, req)
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	checkContract(ct.t, req, sent, response{Status: res.StatusCode, Header: res.Header, Body: body})
	return res, nil
}
