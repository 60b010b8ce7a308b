package config

import (
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// masked replaces a secret in what is logged.
const masked = "xxxxx"

// secretKeys are the connection parameters that hold a secret: the password, and the
// passphrase of the TLS client key.
var secretKeys = map[string]bool{"password": true, "sslpassword": true}

// MaskURL returns the PostgreSQL connection string raw with its secrets masked, in either
// form pgx accepts: a URL (postgres://user:secret@host/db?sslpassword=secret) or key=value
// settings (host=db password='secret'). It scans raw the way pgx does and masks exactly
// the spans pgx would read as a password; a string it cannot read, or one whose password
// would still show after masking, is not shown at all.
func MaskURL(raw string) string {
	var (
		out string
		ok  bool
	)
	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		out, ok = maskURLForm(raw)
	} else {
		out, ok = maskKeywordValueForm(raw)
	}
	if !ok {
		return "(unparsable)"
	}
	// A safety net for a string read differently here and by pgx (PGPASSWORD and
	// ~/.pgpass are read too, so a password found here need not come from raw).
	if cfg, err := pgconn.ParseConfig(raw); err != nil {
		return "(unparsable)"
	} else if cfg.Password != "" && strings.Contains(out, cfg.Password) {
		return "(hidden: the password would show)"
	}
	return out
}

// maskURLForm masks the password of the user info and the secret query parameters, as
// pgconn's URL parser reads them: the password follows the first ':' of the user info,
// and the query is '&'-separated key=value pairs whose keys are percent-encoded. pgconn
// ends the user info at the first '@' before any '/'; this ends it at the last one, so an
// unescaped '@' in a password masks all of it, not just what pgconn reads.
func maskURLForm(raw string) (string, bool) {
	schemeEnd := strings.Index(raw, "://") + len("://")
	var b strings.Builder
	b.WriteString(raw[:schemeEnd])
	rest := raw[schemeEnd:]
	authority := rest
	if slash := strings.IndexByte(rest, '/'); slash >= 0 {
		authority = rest[:slash]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		if user, password, found := strings.Cut(rest[:i], ":"); found && password != "" {
			b.WriteString(user + ":" + masked)
		} else {
			b.WriteString(rest[:i])
		}
		rest = rest[i:]
	}
	q := strings.IndexByte(rest, '?')
	if q < 0 {
		b.WriteString(rest)
		return b.String(), true
	}
	b.WriteString(rest[:q+1])
	for i, pair := range strings.Split(rest[q+1:], "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		rawKey, _, found := strings.Cut(pair, "=")
		// As pgconn reads the query (url.ParseQuery): %XX escapes and '+' for a space.
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return "", false
		}
		if found && secretKeys[strings.TrimSpace(key)] {
			b.WriteString(rawKey + "=" + masked)
			continue
		}
		b.WriteString(pair)
	}
	return b.String(), true
}

// maskKeywordValueForm masks the values of the secret keys of libpq's key=value form as
// pgconn reads it: keys end at '=' (spaces around it allowed); a value is either quoted
// with single quotes, or runs to the next space; a backslash escapes the next character
// in both.
func maskKeywordValueForm(raw string) (string, bool) {
	const spaces = " \t\n\r\v\f"
	var b strings.Builder
	s := raw
	for {
		trimmed := strings.TrimLeft(s, spaces)
		b.WriteString(s[:len(s)-len(trimmed)])
		s = trimmed
		if s == "" {
			return b.String(), true
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return "", false
		}
		key := strings.Trim(s[:eq], spaces)
		b.WriteString(s[:eq+1])
		s = s[eq+1:]
		trimmed = strings.TrimLeft(s, spaces)
		b.WriteString(s[:len(s)-len(trimmed)])
		s = trimmed
		var value string
		quoted := s != "" && s[0] == '\''
		if quoted {
			end := 1
			for ; end < len(s) && s[end] != '\''; end++ {
				if s[end] == '\\' {
					end++
				}
			}
			if end >= len(s) {
				return "", false // unterminated
			}
			value, s = s[:end+1], s[end+1:]
		} else {
			end := 0
			for ; end < len(s) && !strings.ContainsRune(spaces, rune(s[end])); end++ {
				if s[end] == '\\' {
					end++
				}
			}
			end = min(end, len(s))
			value, s = s[:end], s[end:]
		}
		switch {
		case !secretKeys[key] || value == "" || value == "''":
			b.WriteString(value)
		case quoted:
			b.WriteString("'" + masked + "'")
		default:
			b.WriteString(masked)
		}
	}
}
