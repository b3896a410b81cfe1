-- The weekly token report (`notify::weekly`): each user may turn it off on /account.
ALTER TABLE users ADD COLUMN weekly_report BOOLEAN NOT NULL DEFAULT TRUE;
-- One row per account and week whose report was queued: the scheduler inserts it in the
-- transaction that queues the report, so several schedulers send each week's once.
CREATE TABLE weekly_reports (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    -- the start of the report's week (midnight UTC of its first day)
    week TIMESTAMP NOT NULL,
    queued_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, week)
);
