package postgres_test

import (
	"testing"

	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/app/storetest"
)

// TestStoreKeepsTheStoreContract runs the app.Store contract, which the fake of the use
// cases' tests keeps too, against the PostgreSQL store.
func TestStoreKeepsTheStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) app.Store { s, _ := newStore(t); return s })
}
