package config

import (
	"errors"
	"strings"
	"sync"
	"time"
)

// ModuleEnv is the environment as a module sees it: the variables it owns, never the
// platform's (DATABASE_URL, SMTP_PASSWORD…: a module sees no secret that is not its own).
// Load builds it; a module reads its variables through Settings.
type ModuleEnv struct {
	getenv func(string) string
}

// NewModuleEnv returns the environment of getenv without the platform's variables (the
// ones Load reads, and OpenTelemetry's OTEL_*).
func NewModuleEnv(getenv func(string) string) ModuleEnv { return ModuleEnv{getenv: getenv} }

// Settings starts reading one module's variables.
func (e ModuleEnv) Settings() *Settings {
	getenv := e.getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	s := &Settings{}
	s.getenv = func(name string) string {
		if IsPlatformVariable(name) {
			s.fail(name, "is a platform setting: a module cannot read it")
			return ""
		}
		return getenv(name)
	}
	return s
}

// Settings reads and validates a module's own variables the way Load reads the
// platform's: each read returns the value or the default, and a value that does not
// parse is recorded; Err then reports every bad variable at once, naming each, and the
// program stops at start.
type Settings struct {
	parser
}

// String returns name's value, or def when unset.
func (s *Settings) String(name, def string) string { return s.str(name, def) }

// Int returns name's value, a whole number from lo to hi, or def when unset.
func (s *Settings) Int(name string, def, lo, hi int) int { return s.intRange(name, def, lo, hi) }

// Bool returns name's value, true or false, or def when unset.
func (s *Settings) Bool(name string, def bool) bool { return s.boolean(name, def) }

// Float returns name's value, a finite number of at least 0, or def when unset.
func (s *Settings) Float(name string, def float64) float64 { return s.float(name, def) }

// Duration returns name's value, a positive Go duration, or def when unset.
func (s *Settings) Duration(name string, def time.Duration) time.Duration {
	return s.duration(name, def)
}

// DurationOrZero is Duration where 0 is allowed (it turns a feature off).
func (s *Settings) DurationOrZero(name string, def time.Duration) time.Duration {
	return s.durationOrZero(name, def)
}

// OneOf returns name's value, one of allowed (case-insensitive), or def when unset.
func (s *Settings) OneOf(name, def string, allowed ...string) string {
	return s.oneOf(name, def, allowed...)
}

// Fail records that name is wrong, for checks across variables.
func (s *Settings) Fail(name, why string) { s.fail(name, why) }

// Err reports every bad variable read so far, or nil.
func (s *Settings) Err() error { return errors.Join(s.errs...) }

// IsPlatformVariable reports whether name is one of the platform's variables: those Load
// reads, and OpenTelemetry's OTEL_* (read by the SDK too).
func IsPlatformVariable(name string) bool {
	return strings.HasPrefix(name, "OTEL_") || platformVariables()[name]
}

// platformVariables returns the names of the variables Load reads.
var platformVariables = sync.OnceValue(func() map[string]bool {
	names := map[string]bool{}
	_, _ = Load(func(name string) string { names[name] = true; return "" })
	return names
})
