package domain

import "errors"

// issued returns the codes a recorded since it was loaded.
func issued(a *Account) []CodeIssued {
	var out []CodeIssued
	for _, e := range a.Events() {
		if c, ok := e.(CodeIssued); ok {
			out = append(out, c)
		}
	}
	return out
}

// wrongCodes returns the wrong codes a recorded since it was loaded.
func wrongCodes(a *Account) []WrongCode {
	var out []WrongCode
	for _, e := range a.Events() {
		if w, ok := e.(WrongCode); ok {
			out = append(out, w)
		}
	}
	return out
}

// asRetry is errors.As for a *RetryLaterError of reason.
func asRetry(err error, target **RetryLaterError, reason Reason) bool {
	return errors.As(err, target) && (*target).Reason == reason
}

// isRetry reports whether err is a *RetryLaterError of reason.
func isRetry(err error, reason Reason) bool {
	var r *RetryLaterError
	return asRetry(err, &r, reason)
}
