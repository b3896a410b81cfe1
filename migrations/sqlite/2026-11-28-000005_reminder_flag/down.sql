DROP INDEX api_tokens_reminder_due;
ALTER TABLE api_tokens DROP COLUMN expiry_reminder_queued;
