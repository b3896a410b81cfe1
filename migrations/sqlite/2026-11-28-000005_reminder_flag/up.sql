-- Set when a token's expiry reminder is queued: each scheduler pass then reads only the
-- tokens inside the 48-hour window still waiting for one, not every token in it again.
ALTER TABLE api_tokens ADD COLUMN expiry_reminder_queued BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE api_tokens SET expiry_reminder_queued = TRUE
    WHERE id IN (SELECT token_id FROM outbox WHERE kind = 'token_expiring');
CREATE INDEX api_tokens_reminder_due ON api_tokens(expires_at, id)
    WHERE revoked_at IS NULL AND NOT expiry_reminder_queued;
