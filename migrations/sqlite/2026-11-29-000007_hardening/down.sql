DROP TABLE invitations;
DROP INDEX handoffs_open_by_maker;
ALTER TABLE handoffs DROP COLUMN cancelled_at;
