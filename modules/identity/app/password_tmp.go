package app

import "github.com/acme/identity/modules/identity/domain"

// validatePassword: replaced by the strength check's version at merge.
func (s *Service) validatePassword(email domain.Email, password string) error {
	if msg := domain.CheckPassword(password, email); msg != "" {
		var verr domain.ValidationError
		verr.Add("password", msg)
		return verr.Err()
	}
	return nil
}
