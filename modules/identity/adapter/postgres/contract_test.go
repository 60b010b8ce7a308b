package postgres_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/app/storetest"
	"github.com/acme/identity/modules/identity/domain"
)

// codeLine is the line of a code's email text that holds the code alone (4 digits for
// activation, 8 for a password reset).
var codeLine = regexp.MustCompile(`(?m)^([0-9]{4}|[0-9]{8})$`)

// TestStoreKeepsTheStoreContract runs the app.Store contract, which the fake of the use
// cases' tests keeps too, against the PostgreSQL store, reading its emails from the outbox.
func TestStoreKeepsTheStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Subject {
		store, pool := newStore(t)
		ctx := context.Background()
		return storetest.Subject{
			Store:    store,
			Sessions: store,
			Emailed: func(t *testing.T, addr domain.Email) []string {
				rows, err := pool.Query(ctx, "SELECT text_body FROM platform.outbox_emails WHERE recipient = $1 ORDER BY id", string(addr))
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var codes []string
				for rows.Next() {
					var text string
					if err := rows.Scan(&text); err != nil {
						t.Fatal(err)
					}
					code := "" // a notice
					if m := codeLine.FindStringSubmatch(text); m != nil {
						code = m[1]
					}
					codes = append(codes, code)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return codes
			},
			Delete: func(t *testing.T, id string) {
				if _, err := pool.Exec(ctx, "DELETE FROM identity.accounts WHERE id = $1", id); err != nil {
					t.Fatal(err)
				}
			},
			ClientUnits: func(t *testing.T, client string) int {
				var n int
				if err := pool.QueryRow(ctx, "SELECT coalesce(sum(spent), 0) FROM identity.client_budgets WHERE client = $1", client).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			},
		}
	})
}

// TestWebhooksKeepTheContract runs the app.Webhooks contract against the PostgreSQL store.
func TestWebhooksKeepTheContract(t *testing.T) {
	storetest.RunWebhooks(t, func(t *testing.T) app.Webhooks {
		store, _ := newStore(t)
		return store
	})
}
