DROP INDEX api_tokens_changed;
CREATE INDEX api_tokens_changed ON api_tokens(account_id, changed_version);
