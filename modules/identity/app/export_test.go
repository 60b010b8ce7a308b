package app

import (
	"testing"

	"github.com/acme/identity/modules/identity/domain"
)

// NewFakeStore is the fake of the use cases' tests, for the contract suite
// (contract_test.go, package app_test), with what the suite reads around it.
func NewFakeStore() (store Store, sessions SessionStore, emailed func(*testing.T, domain.Email) []string,
	del func(*testing.T, string), clientUnits func(*testing.T, string) int,
) {
	s := newFakeStore()
	emailed = func(_ *testing.T, addr domain.Email) []string {
		s.mu.Lock()
		defer s.mu.Unlock()
		var codes []string
		for _, e := range s.emails {
			if e.to == addr {
				codes = append(codes, e.code)
			}
		}
		return codes
	}
	del = func(_ *testing.T, id string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.forget(id)
	}
	clientUnits = func(_ *testing.T, client string) int { return s.clientUnits(client) }
	return s, s, emailed, del, clientUnits
}
