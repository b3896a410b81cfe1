//! Bulk loads (`sesame seed`): multi-row INSERTs on the concrete backend, which
//! MultiConnection lacks, and SQLite's settings for loading many rows at once.

use super::schema::{api_tokens, audit_events, outbox, token_networks, users};
use super::DbConn;
use chrono::NaiveDateTime;
use diesel::{Insertable, QueryResult, RunQueryDsl};

/// Rows per INSERT statement: 16 bound values a row stays under both SQLite's and
/// PostgreSQL's limits.
const ROWS_PER_INSERT: usize = 1_000;

/// A multi-row INSERT on the concrete connection, a statement per `ROWS_PER_INSERT` rows.
macro_rules! insert_all {
    ($name:ident, $table:ident, $row:ty) => {
        pub fn $name(conn: &mut DbConn, rows: &[$row]) -> QueryResult<()> {
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                match conn {
                    DbConn::Sqlite(c) => diesel::insert_into($table::table)
                        .values(chunk)
                        .execute(c)?,
                    DbConn::Pg(c) => diesel::insert_into($table::table)
                        .values(chunk)
                        .execute(c)?,
                };
            }
            Ok(())
        }
    };
}

insert_all!(insert_tokens, api_tokens, SeedToken);
insert_all!(insert_networks, token_networks, SeedNetwork);
insert_all!(insert_events, audit_events, SeedEvent);
insert_all!(insert_notices, outbox, SeedNotice);
insert_all!(insert_users, users, SeedUser);

/// Runs a bulk load with SQLite's bulk settings, and gives the connection back to its pool
/// with the usual ones whatever happened.
pub fn with_bulk_settings<E: From<diesel::result::Error>>(
    conn: &mut DbConn,
    load: impl FnOnce(&mut DbConn) -> Result<(), E>,
) -> Result<(), E> {
    // A large page cache keeps SQLite from spilling and re-reading index pages while the
    // random usernames land all over their index (PostgreSQL manages its own buffers).
    // No fsync while seeding: synthetic rows for benchmarks and demos; a crash of the
    // process loses nothing committed, only a crash of the machine could.
    sqlite_pragmas(
        conn,
        "PRAGMA cache_size = -262144; PRAGMA synchronous = OFF",
    )?;
    let loaded = load(conn);
    sqlite_pragmas(
        conn,
        "PRAGMA cache_size = -2000; PRAGMA synchronous = NORMAL",
    )?;
    loaded
}

fn sqlite_pragmas(conn: &mut DbConn, pragmas: &str) -> QueryResult<()> {
    if let DbConn::Sqlite(sqlite) = conn {
        diesel::connection::SimpleConnection::batch_execute(sqlite, pragmas)?;
    }
    Ok(())
}

#[derive(Insertable)]
#[diesel(table_name = api_tokens, treat_none_as_default_value = false)]
pub struct SeedToken {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub description: &'static str,
    pub username: String,
    pub secret_hmac: Vec<u8>,
    pub secret_enc: Vec<u8>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<&'static str>,
    pub changed_version: i64,
    pub last_used_at: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = token_networks)]
pub struct SeedNetwork {
    pub token_id: String,
    pub position: i32,
    pub network: String,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub struct SeedEvent {
    pub id: String,
    pub account_id: String,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub action: &'static str,
    pub token_id: Option<String>,
    pub detail: &'static str,
    pub ip: Option<&'static str>,
    pub created_at: NaiveDateTime,
    pub seq: Option<i64>,
}

#[derive(Insertable)]
#[diesel(table_name = outbox, treat_none_as_default_value = false)]
pub struct SeedNotice {
    pub id: String,
    pub account_id: String,
    pub kind: &'static str,
    pub token_id: Option<String>,
    pub period: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: &'static str,
    pub body_html: &'static str,
    pub status: &'static str,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub give_up_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub seq: Option<i64>,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct SeedUser {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub password_hash: String,
    pub role: &'static str,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
}
