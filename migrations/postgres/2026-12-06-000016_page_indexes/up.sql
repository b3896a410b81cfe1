-- The token page shows the newest renewal that replaces a token (`tokens::renewals`).
CREATE INDEX api_tokens_replaces ON api_tokens(replaces_id, created_at) WHERE replaces_id IS NOT NULL;
-- Users disables the last active admin's demotion beforehand (`users::count_active_admins`):
-- a count of the account's admins, not a pass over its people.
CREATE INDEX users_account_role ON users(account_id, role, disabled);
