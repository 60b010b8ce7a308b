package app

import (
	"testing"

	"github.com/acme/identity/modules/identity/domain"
)

// NewFakeStore is the fake of the use cases' tests, for the Store contract suite
// (contract_test.go, package app_test), with what the suite reads around it: the codes
// it emailed to an address, and a deletion of an account.
func NewFakeStore() (store Store, emailed func(*testing.T, domain.Email) []string, del func(*testing.T, string)) {
	s := newFakeStore()
	emailed = func(_ *testing.T, addr domain.Email) []string {
		s.mu.Lock()
		defer s.mu.Unlock()
		var codes []string
		for _, e := range s.emails {
			if e.Email == addr {
				codes = append(codes, e.Code)
			}
		}
		return codes
	}
	del = func(_ *testing.T, id string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.accounts, id)
	}
	return s, emailed, del
}
