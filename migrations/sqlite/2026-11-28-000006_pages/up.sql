-- Pages that cost the same at any depth and any account size.

-- Each token carries the account version (accounts.lock_version) of its last change, so
-- the in-memory token lists read only what changed since the version they hold.
ALTER TABLE api_tokens ADD COLUMN changed_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX api_tokens_changed ON api_tokens(account_id, changed_version);

-- Audit events and notices are append-only: each gets the next number of its account, so
-- page N of the newest-first list is the range of numbers it covers, found by an index
-- seek instead of an OFFSET walk. The counters live on the account row.
ALTER TABLE accounts ADD COLUMN audit_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN notice_seq BIGINT NOT NULL DEFAULT 0;

ALTER TABLE audit_events ADD COLUMN seq BIGINT;
UPDATE audit_events SET seq = numbered.n
    FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY created_at, id) AS n
          FROM audit_events WHERE account_id IS NOT NULL) AS numbered
    WHERE audit_events.id = numbered.id;
UPDATE accounts SET audit_seq =
    COALESCE((SELECT MAX(seq) FROM audit_events WHERE audit_events.account_id = accounts.id), 0);
CREATE UNIQUE INDEX audit_events_account_seq ON audit_events(account_id, seq);
DROP INDEX audit_events_account_created;

ALTER TABLE outbox ADD COLUMN seq BIGINT;
UPDATE outbox SET seq = numbered.n
    FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY created_at, id) AS n
          FROM outbox WHERE account_id IS NOT NULL) AS numbered
    WHERE outbox.id = numbered.id;
UPDATE accounts SET notice_seq =
    COALESCE((SELECT MAX(seq) FROM outbox WHERE outbox.account_id = accounts.id), 0);
CREATE UNIQUE INDEX outbox_account_seq ON outbox(account_id, seq);
DROP INDEX outbox_account_created;

-- Users, a page at a time in e-mail order (keyset: the page after an address).
CREATE INDEX users_account_email ON users(account_id, email);
DROP INDEX users_account_id;
