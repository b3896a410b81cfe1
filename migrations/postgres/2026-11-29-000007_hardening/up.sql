-- A hand-off link can be cancelled (by an admin, or when the admin who made it is
-- disabled); an open link is one neither revealed nor cancelled.
ALTER TABLE handoffs ADD COLUMN cancelled_at TIMESTAMP;
CREATE INDEX handoffs_open_by_maker ON handoffs(created_by)
    WHERE opened_at IS NULL AND cancelled_at IS NULL;

-- Invitations are not users: a pending one reserves no address (a user exists only once
-- the invitation is accepted), so what an admin sees never depends on another account's
-- users, and an invitation nobody accepts blocks nothing. Open = neither accepted nor
-- cancelled; it works until expires_at (72 h) and can be sent again.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'support', 'member')),
    invited_by TEXT REFERENCES users(id),
    code_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP,
    cancelled_at TIMESTAMP
);
CREATE INDEX invitations_open ON invitations(account_id, email)
    WHERE accepted_at IS NULL AND cancelled_at IS NULL;
-- The users still waiting for their first password become invitations (one per unused
-- link), and stop reserving their address.
INSERT INTO invitations (id, account_id, email, role, invited_by, code_hash, created_at, expires_at)
    SELECT l.id, u.account_id, u.email, u.role, NULL, l.code_hash, l.created_at, l.expires_at
    FROM user_links l JOIN users u ON u.id = l.user_id
    WHERE l.purpose = 'invite' AND l.used_at IS NULL AND u.password_hash = '';
DELETE FROM user_links WHERE user_id IN (SELECT id FROM users WHERE password_hash = '');
DELETE FROM users WHERE password_hash = '';
