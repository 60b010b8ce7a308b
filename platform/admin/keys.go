package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/acme/identity/platform/admin/internal/sqlcgen"
	"github.com/acme/identity/platform/database"
)

// KeyPrefix starts every admin key, so a key found in a paste or a repository is
// recognised for what it is (secret scanners match on it).
const KeyPrefix = "idadm_"

// keyBytes is the randomness of a key: 256 bits.
const keyBytes = 32

// Errors of the key commands.
var (
	// ErrNameTaken: a key of that name exists, revoked or not (a name is never reused:
	// it is the actor of the events its key caused).
	ErrNameTaken = errors.New("an admin key with this name exists already (names are never reused, even once revoked)")
	// ErrNoSuchKey: no key has that name.
	ErrNoSuchKey = errors.New("no admin key has this name")
	// ErrBadName: the name is not 1 to 64 of letters, digits, '.', '_', '@', '-',
	// starting with a letter or digit.
	ErrBadName = errors.New("an admin key's name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
)

// validName is the shape of a key's name (the table's admin_keys_name_check says the
// same): it lands in logs and in every event's data.actor, so nothing that could forge a
// line or hide in one.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// KeyInfo is what is known of a key: never the key, never its hash.
type KeyInfo struct {
	Name       string
	CreatedAt  time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// Keys is the store of the admin keys (platform.admin_keys).
type Keys struct {
	db sqlcgen.DBTX
}

// NewKeys returns the key store over db (the pool).
func NewKeys(db sqlcgen.DBTX) *Keys { return &Keys{db: db} }

// Create makes a new key named name, stores its hash and returns the key: the only time
// it is ever seen.
func (k *Keys) Create(ctx context.Context, name string) (string, error) {
	if !validName.MatchString(name) {
		return "", ErrBadName
	}
	raw := make([]byte, keyBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("admin key: randomness: %w", err)
	}
	key := KeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	_, err := sqlcgen.New(k.db).InsertAdminKey(ctx, sqlcgen.InsertAdminKeyParams{Name: name, KeyHash: hashKey(key)})
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "admin_keys_name_key":
		return "", fmt.Errorf("admin key %q: %w", name, ErrNameTaken)
	case err != nil:
		return "", fmt.Errorf("admin key %q: %w", name, database.Classify(err))
	}
	return key, nil
}

// List returns every key, revoked ones included, oldest first.
func (k *Keys) List(ctx context.Context) ([]KeyInfo, error) {
	rows, err := sqlcgen.New(k.db).ListAdminKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list admin keys: %w", database.Classify(err))
	}
	out := make([]KeyInfo, len(rows))
	for i, r := range rows {
		out[i] = KeyInfo{Name: r.Name, CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt, LastUsedAt: r.LastUsedAt}
	}
	return out, nil
}

// Revoke revokes the key named name: from the next request on, no replica accepts it
// (each looks the key up on every request). Revoking a revoked key keeps its first
// revocation time; it returns that time.
func (k *Keys) Revoke(ctx context.Context, name string) (time.Time, error) {
	at, err := sqlcgen.New(k.db).RevokeAdminKey(ctx, name)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return time.Time{}, fmt.Errorf("admin key %q: %w", name, ErrNoSuchKey)
	case err != nil:
		return time.Time{}, fmt.Errorf("revoke admin key %q: %w", name, database.Classify(err))
	case at == nil:
		return time.Time{}, fmt.Errorf("revoke admin key %q: no revocation time", name)
	}
	return *at, nil
}

// authenticate returns the name of the live key key, or "" and no error when there is
// none (unknown, malformed or revoked). Only a key of the right shape costs a lookup:
// one probe of the unique index on the hash.
func (k *Keys) authenticate(ctx context.Context, key string) (string, error) {
	if !wellFormed(key) {
		return "", nil
	}
	sum := hashKey(key)
	q := sqlcgen.New(k.db)
	row, err := q.FindAdminKey(ctx, sum)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("find admin key: %w", database.Classify(err))
	}
	// The index found the row by equality already; comparing the hashes again in
	// constant time keeps the check itself free of any early exit on the secret's bytes.
	if subtle.ConstantTimeCompare(row.KeyHash, sum) != 1 {
		return "", nil
	}
	if err := q.TouchAdminKey(ctx, row.ID); err != nil {
		return "", fmt.Errorf("record admin key use: %w", database.Classify(err))
	}
	return row.Name, nil
}

// wellFormed reports whether key looks like a key Create makes: the prefix and 256 bits
// of base64url.
func wellFormed(key string) bool {
	body, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok || len(body) != base64.RawURLEncoding.EncodedLen(keyBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(body)
	return err == nil
}

// hashKey is what is stored of a key. A plain SHA-256 is right for a 256-bit random
// secret: nobody can guess one to test against a leaked hash, so a slow password hash
// would only cost every request time (docs/decisions.md).
func hashKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}
