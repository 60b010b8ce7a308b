-- Queries on admin_keys, for platform/admin: the keys of the administration API. A key
-- itself is never stored, only its SHA-256 (key_hash).

-- name: InsertAdminKey :one
-- Records a new key; a name already taken (even by a revoked key) violates
-- admin_keys_name_key.
INSERT INTO platform.admin_keys (name, key_hash)
VALUES (@name, @key_hash)
RETURNING id, created_at;

-- name: ListAdminKeys :many
-- Every key, revoked ones included, oldest first; never the hash.
SELECT name, created_at, revoked_at, last_used_at
FROM platform.admin_keys
ORDER BY created_at, id;

-- name: RevokeAdminKey :one
-- Revokes the key named @name (a key revoked already keeps its first revocation time);
-- no row: no such key.
UPDATE platform.admin_keys
SET revoked_at = coalesce(revoked_at, now())
WHERE name = @name
RETURNING revoked_at;

-- name: FindAdminKey :one
-- The live key whose hash is @key_hash: one probe of admin_keys_key_hash_key, on every
-- admin request, so a revocation holds at once on every replica. No row: no such key,
-- or revoked.
SELECT id, name, key_hash, last_used_at
FROM platform.admin_keys
WHERE key_hash = @key_hash
  AND revoked_at IS NULL;

-- name: TouchAdminKey :exec
-- Records that the key @id was used, at most once a minute (a dashboard polls every few
-- seconds: a write per request would churn the row for nothing).
UPDATE platform.admin_keys
SET last_used_at = now()
WHERE id = @id
  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');
