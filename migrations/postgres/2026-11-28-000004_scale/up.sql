-- The lists and counts at scale (100,000 tokens in an account).
-- Active tokens of an account in list order: API Tokens, its pages, the Dashboard's counts.
-- The partial index holds exactly the rows these queries want: they never read the table.
CREATE INDEX api_tokens_active ON api_tokens(account_id, expires_at, id) WHERE revoked_at IS NULL;
-- Expired & Revoked, most recently ended first.
CREATE INDEX api_tokens_ended ON api_tokens(account_id, (COALESCE(revoked_at, expires_at)), id);
-- Superseded by api_tokens_active.
DROP INDEX api_tokens_account_expires;
