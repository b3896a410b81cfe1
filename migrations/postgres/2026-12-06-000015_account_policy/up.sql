-- The account's token policy (`/settings`): the longest lifetime Add Token and Renew accept.
ALTER TABLE accounts ADD COLUMN max_lifetime_days INTEGER NOT NULL DEFAULT 365
    CHECK (max_lifetime_days BETWEEN 1 AND 365);
