ALTER TABLE accounts DROP COLUMN max_lifetime_days;
