-- The same tables as on PostgreSQL, where several server processes keep their API check
-- caches coherent through them (docs/revocation.md). A SQLite database has one server
-- process (the instance lock), so nothing here uses them.
CREATE TABLE token_changes (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    last_change BIGINT NOT NULL
);
INSERT INTO token_changes (id, last_change) VALUES (1, 0);

CREATE TABLE check_cache_leases (
    process_id TEXT PRIMARY KEY NOT NULL,
    lease_until TIMESTAMP NOT NULL,
    acked BIGINT NOT NULL
);
