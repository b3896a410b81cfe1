DROP TABLE audit_events;
DROP TABLE token_networks;
DROP TABLE api_tokens;
DROP TABLE users;
DROP TABLE accounts;
