package domain

// ac and rc are the guesses a handler would parse from s (unchecked: a test may make a
// malformed one on purpose).
func ac(s string) ActivationCode { return ActivationCode{digits: s} }
func rc(s string) ResetCode      { return ResetCode{digits: s} }

func validCode(s string) bool      { return allDigits(s, activationCodeLength) }
func validResetCode(s string) bool { return allDigits(s, ResetCodeLength) }

// checkPassword is ParsePassword's message alone.
func checkPassword(raw string, email Email) string {
	_, msg := ParsePassword(raw, email)
	return msg
}

// ec is the email-change guess a handler would parse from s.
func ec(s string) EmailChangeCode { return EmailChangeCode{digits: s} }
