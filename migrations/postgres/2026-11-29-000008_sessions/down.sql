ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
DROP TABLE sign_in_devices;
DROP TABLE sessions;
