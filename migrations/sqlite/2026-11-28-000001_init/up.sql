CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    -- bumped by every write transaction on the account's tokens: it takes the write lock
    -- first, which serialises them (and avoids SQLite's busy-snapshot on upgrade)
    lock_version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'support', 'member')),
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    session_epoch BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX users_account_id ON users(account_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    username TEXT NOT NULL UNIQUE,
    secret_hmac BLOB NOT NULL,
    secret_enc BLOB NOT NULL,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_by TEXT REFERENCES users(id),
    revoke_reason TEXT,
    last_used_at TIMESTAMP,
    last_used_ip TEXT
);
CREATE INDEX api_tokens_account_expires ON api_tokens(account_id, expires_at);
CREATE INDEX api_tokens_account_revoked ON api_tokens(account_id, revoked_at);

CREATE TABLE token_networks (
    token_id TEXT NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    network TEXT NOT NULL,
    PRIMARY KEY (token_id, position)
);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT REFERENCES accounts(id),
    actor_id TEXT REFERENCES users(id),
    actor_email TEXT,
    action TEXT NOT NULL,
    token_id TEXT REFERENCES api_tokens(id),
    detail TEXT NOT NULL DEFAULT '',
    ip TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_account_created ON audit_events(account_id, created_at);
