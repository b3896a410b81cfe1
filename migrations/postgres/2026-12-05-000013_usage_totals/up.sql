-- Each token's calls over the windows the lists show, kept up to date so that a page of
-- tokens reads one row per token instead of summing its days (`db::usage_totals`): the
-- usage batch adds to them, and once a day the scheduler subtracts the day that left
-- each window.
CREATE TABLE token_usage_totals (
    token_id TEXT PRIMARY KEY NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    -- the last 30 days, today included: API Tokens' "Calls (30 d)"
    accepted_30d BIGINT NOT NULL DEFAULT 0,
    refused_30d BIGINT NOT NULL DEFAULT 0,
    -- the last 7 days: Expired & Revoked's calls after the end
    after_end_7d BIGINT NOT NULL DEFAULT 0
);
-- The day the totals' windows end on (their last day). One row; the epoch means "never
-- computed": the first batch or tick then sums the windows from `token_usage`. Batches and
-- the daily pass lock this row first, so they never interleave.
CREATE TABLE usage_rollup (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    day TIMESTAMP NOT NULL
);
INSERT INTO usage_rollup (id, day) VALUES (1, '1970-01-01 00:00:00');
