DROP INDEX api_tokens_expires_at;
DROP TABLE outbox;
