-- Times are integer milliseconds since the epoch (UTC); the API renders them as ISO 8601.
-- Every tenant-owned row carries account_id, and every query filters on it.

CREATE TABLE accounts (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  -- JSON: per-account overrides of rate limits ({"per_token": n, "per_inbox": n}); NULL = defaults.
  rate_limits TEXT,
  created_at INTEGER NOT NULL
);

CREATE TABLE users (
  id TEXT PRIMARY KEY NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  email TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('administrator', 'agent')),
  -- Auto-assignment skips agents who are not available.
  available INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  deleted_at INTEGER
);
-- An email identifies one live user per account; a deleted user frees it.
CREATE UNIQUE INDEX users_account_email ON users(account_id, email) WHERE deleted_at IS NULL;

CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  kind TEXT NOT NULL CHECK (kind IN ('user', 'inbox')),
  user_id TEXT REFERENCES users(id),
  inbox_id TEXT,
  -- SHA-256 of the token, hex. The token itself is never stored.
  token_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens(token_hash);
CREATE INDEX api_tokens_user ON api_tokens(account_id, user_id);
