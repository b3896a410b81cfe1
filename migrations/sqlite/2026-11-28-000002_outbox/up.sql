-- E-mail notices, durable: queued in the transaction that causes them, delivered by the
-- scheduler, retried with back-off. One notice per (kind, token, recipient, period).
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT REFERENCES accounts(id),
    kind TEXT NOT NULL,
    token_id TEXT REFERENCES api_tokens(id),
    -- '' for once-ever notices; e.g. the hour for hourly alerts
    period TEXT NOT NULL DEFAULT '',
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    -- when it is due; while 'sending', when the claim lapses (a crashed sender)
    next_attempt_at TIMESTAMP NOT NULL,
    give_up_at TIMESTAMP NOT NULL,
    last_error TEXT,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX outbox_once ON outbox(kind, token_id, recipient, period);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_account_created ON outbox(account_id, created_at);
CREATE INDEX api_tokens_expires_at ON api_tokens(expires_at);
