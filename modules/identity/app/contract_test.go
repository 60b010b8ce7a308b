package app_test

import (
	"testing"

	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/app/storetest"
)

// TestFakeStoreKeepsTheStoreContract: the fake the use cases are tested with behaves as
// the PostgreSQL store does (adapter/postgres runs the same suite).
func TestFakeStoreKeepsTheStoreContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Subject {
		store, sessions, emailed, del, clientUnits := app.NewFakeStore()
		return storetest.Subject{Store: store, Sessions: sessions, Emailed: emailed, Delete: del, ClientUnits: clientUnits}
	})
}

// TestFakeWebhooksKeepTheContract: the fake of app.Webhooks behaves as the PostgreSQL
// store does (adapter/postgres runs the same suite).
func TestFakeWebhooksKeepTheContract(t *testing.T) {
	storetest.RunWebhooks(t, func(*testing.T) app.Webhooks { return app.NewFakeWebhooks() })
}
