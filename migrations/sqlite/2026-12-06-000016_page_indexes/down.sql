DROP INDEX users_account_role;
DROP INDEX api_tokens_replaces;
