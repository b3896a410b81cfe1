CREATE INDEX api_tokens_account_expires ON api_tokens(account_id, expires_at);
DROP INDEX api_tokens_ended;
DROP INDEX api_tokens_active;
