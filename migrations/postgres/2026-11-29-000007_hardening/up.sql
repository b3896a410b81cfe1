-- A hand-off link can be cancelled (by an admin, or when the admin who made it is
-- disabled); an open link is one neither revealed nor cancelled.
ALTER TABLE handoffs ADD COLUMN cancelled_at TIMESTAMP;
CREATE INDEX handoffs_open_by_maker ON handoffs(created_by)
    WHERE opened_at IS NULL AND cancelled_at IS NULL;
