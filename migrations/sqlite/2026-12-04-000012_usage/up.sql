-- API calls per token per day (midnight UTC), counted in memory and added in one batch per
-- tick (`db::usage`); the scheduler deletes rows older than 90 days.
CREATE TABLE token_usage (
    token_id TEXT NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    day TIMESTAMP NOT NULL,
    accepted BIGINT NOT NULL DEFAULT 0,
    wrong_password BIGINT NOT NULL DEFAULT 0,
    outside_networks BIGINT NOT NULL DEFAULT 0,
    expired BIGINT NOT NULL DEFAULT 0,
    revoked BIGINT NOT NULL DEFAULT 0,
    throttled BIGINT NOT NULL DEFAULT 0,
    -- one token's days: the token page, and the lists' column for a page of tokens
    PRIMARY KEY (token_id, day)
);
-- The retention delete.
CREATE INDEX token_usage_day ON token_usage(day);
