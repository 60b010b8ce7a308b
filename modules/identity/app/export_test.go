package app

// NewFakeStore is the fake of the use cases' tests, for the Store contract suite
// (contract_test.go, package app_test).
func NewFakeStore() Store { return newFakeStore() }
