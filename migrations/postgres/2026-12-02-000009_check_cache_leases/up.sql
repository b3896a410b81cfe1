-- The API check's per-process cache, kept coherent across server processes
-- (docs/revocation.md). Every transaction that changes a token takes the next number from
-- token_changes as its last statement: the row lock orders the numbers as the commits.
-- Each server process holds a lease here, renewed every second; a writer waits, after its
-- commit, until every process with a live lease has acknowledged its change number.
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
