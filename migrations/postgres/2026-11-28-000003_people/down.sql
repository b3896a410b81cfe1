ALTER TABLE api_tokens DROP COLUMN revoke_replaced_on_use;
ALTER TABLE api_tokens DROP COLUMN replaces_id;
DROP TABLE user_links;
DROP TABLE handoffs;
