-- One-time links that hand a token's credentials to the person who will use them.
-- Only a SHA-256 of the code is kept; the code itself exists only in the link.
CREATE TABLE handoffs (
    id TEXT PRIMARY KEY NOT NULL,
    token_id TEXT NOT NULL REFERENCES api_tokens(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    code_hash BYTEA NOT NULL UNIQUE,
    expires_at TIMESTAMP NOT NULL,
    opened_at TIMESTAMP,
    opened_ip TEXT,
    sent_to TEXT,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX handoffs_token ON handoffs(token_id);

-- One-time links for people: an invitation (set a first password) or a password reset.
CREATE TABLE user_links (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    purpose TEXT NOT NULL CHECK (purpose IN ('invite', 'reset')),
    code_hash BYTEA NOT NULL UNIQUE,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX user_links_user ON user_links(user_id);

-- Renew: the token this one replaces, and whether to revoke that one at this one's first use.
ALTER TABLE api_tokens ADD COLUMN replaces_id TEXT REFERENCES api_tokens(id);
ALTER TABLE api_tokens ADD COLUMN revoke_replaced_on_use BOOLEAN NOT NULL DEFAULT FALSE;
