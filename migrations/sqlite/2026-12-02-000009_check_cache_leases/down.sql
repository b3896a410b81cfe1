DROP TABLE check_cache_leases;
DROP TABLE token_changes;
