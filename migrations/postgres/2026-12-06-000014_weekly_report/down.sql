DROP TABLE weekly_reports;
ALTER TABLE users DROP COLUMN weekly_report;
