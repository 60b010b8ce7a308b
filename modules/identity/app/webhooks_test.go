package app

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/acme/identity/modules/identity/domain"
)

// refuseHTTP is a URL guard that refuses what is not https, as a *domain.ValidationError.
type refuseHTTP struct{}

func (refuseHTTP) CheckURL(_ context.Context, url string) error {
	if strings.HasPrefix(url, "https://") {
		return nil
	}
	var verr domain.ValidationError
	verr.Add("url", "must be https")
	return &verr
}

// TestCreateWebhook: an endpoint gets a whsec_ secret of 32 random bytes, shown at its
// creation; a bad URL and bad event types are refused together, as one 422.
func TestCreateWebhook(t *testing.T) {
	ctx := context.Background()
	store, _, _, _, _ := NewFakeStore()
	svc, err := NewService(store, &fakeHasher{}, domain.CodePolicy{}, rand.Reader,
		WithWebhooks(NewFakeWebhooks(), refuseHTTP{}))
	if err != nil {
		t.Fatal(err)
	}
	w, err := svc.CreateWebhook(ctx, "https://crm.example.com/hook", []string{domain.EventActivated})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w.Secret, "whsec_") || len(w.Secret) != len("whsec_")+44 || w.ID == "" {
		t.Errorf("created %+v: want an id and a whsec_ secret of 32 bytes", w)
	}
	_, err = svc.CreateWebhook(ctx, "http://crm.example.com/hook", []string{"account.exploded", domain.EventActivated, domain.EventActivated})
	var verr *domain.ValidationError
	if !errors.As(err, &verr) || len(verr.Fields) != 3 || verr.Fields[0].Field != "url" || verr.Fields[1].Field != "events" {
		t.Fatalf("bad url and events: %v (%+v), want 3 field errors, url first", err, verr)
	}
	list, err := svc.Webhooks(ctx)
	if err != nil || len(list) != 1 || list[0].Secret != "" {
		t.Errorf("list %+v, %v: want the one endpoint, no secret", list, err)
	}
}
