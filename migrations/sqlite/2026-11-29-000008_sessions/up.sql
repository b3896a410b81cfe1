-- Sessions live here, not in the cookie: the cookie carries only a random key, this table
-- only its SHA-256, so any process serves any session and one session can end alone.
-- user_id is NULL for a visitor not signed in (the sign-in form's CSRF token, a message).
-- state holds the session's values as JSON. created_at is the sign-in; seen_at the last
-- request (written at most once a minute); expires_at the earlier of the idle and the
-- absolute timeout, moved on with seen_at.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    key_hash BLOB NOT NULL UNIQUE,
    user_id TEXT REFERENCES users(id),
    state TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ip TEXT,
    browser TEXT NOT NULL DEFAULT '',
    os TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id) WHERE user_id IS NOT NULL;
CREATE INDEX sessions_expires_at ON sessions(expires_at);

-- Where each user signed in from (browser, OS, address) and when last: a sign-in from a
-- combination not seen for 30 days is a new device, and its user is told.
CREATE TABLE sign_in_devices (
    user_id TEXT NOT NULL REFERENCES users(id),
    browser TEXT NOT NULL,
    os TEXT NOT NULL,
    ip TEXT NOT NULL,
    last_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, browser, os, ip)
);
CREATE INDEX sign_in_devices_last_at ON sign_in_devices(last_at);

-- Ending a user's sessions now deletes their rows; the epoch that cookies carried is gone.
ALTER TABLE users DROP COLUMN session_epoch;
