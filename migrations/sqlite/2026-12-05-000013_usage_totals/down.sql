DROP TABLE usage_rollup;
DROP TABLE token_usage_totals;
