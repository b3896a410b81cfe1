//! The SQLite and PostgreSQL migrations must build the same schema.

use crate::helpers::{postgres_available, PgDatabase};
use diesel::prelude::*;
use sesame::config::DatabaseUrl;
use std::collections::BTreeSet;

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

fn lines(conn: &mut sesame::db::DbConn, sql: &str) -> BTreeSet<String> {
    diesel::sql_query(sql)
        .load::<Line>(conn)
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect()
}

#[test]
fn both_backends_migrate_to_the_same_tables_columns_and_indexes() {
    if !postgres_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sesame::db::connect(&DatabaseUrl::Sqlite(dir.path().join("schema.db"))).unwrap();
    let database = PgDatabase::create();
    let postgres = sesame::db::connect(&DatabaseUrl::Postgres(database.url.clone())).unwrap();

    let sqlite_columns = lines(
        &mut sqlite.get().unwrap(),
        "SELECT m.name || '.' || p.name || (CASE WHEN p.\"notnull\" = 1 OR p.pk = 1 THEN ' not null' ELSE ' null' END) AS line \
         FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'",
    );
    let postgres_columns = lines(
        &mut postgres.get().unwrap(),
        "SELECT CAST(table_name || '.' || column_name || (CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE ' null' END) AS TEXT) AS line \
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    );
    assert_eq!(
        sqlite_columns, postgres_columns,
        "tables and columns differ"
    );
    assert!(sqlite_columns.contains("api_tokens.revoked_at null"));

    let sqlite_indexes = lines(
        &mut sqlite.get().unwrap(),
        "SELECT tbl_name || ':' || name AS line FROM sqlite_master \
         WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'",
    );
    let postgres_indexes = lines(
        &mut postgres.get().unwrap(),
        "SELECT CAST(tablename || ':' || indexname AS TEXT) AS line FROM pg_indexes \
         WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key' \
         AND tablename <> '__diesel_schema_migrations'",
    );
    assert_eq!(sqlite_indexes, postgres_indexes, "indexes differ");
    assert!(sqlite_indexes.contains("outbox:outbox_once"));
}
