//! API calls per token per day: counted in memory (`tokens::usage`) and added here in one
//! batch per tick, so a call never waits for a write. Days are midnight UTC. Several
//! processes add into the same rows (`ON CONFLICT … DO UPDATE`), so nothing is lost to a
//! race between them.

use super::schema::token_usage;
use super::DbConn;
use crate::domain::{AccountId, TokenId};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{BigInt, Text, Timestamp};

/// Rows older than this many days are deleted by the scheduler.
pub const KEEP_DAYS: i64 = 90;
/// Rows per statement: nine binds each stays far below either backend's limit.
const ROWS_PER_STATEMENT: usize = 500;
/// Rows per retention delete, so one delete never holds the write lock for long.
const DELETE_CHUNK: usize = 5000;

/// Calls with one token, by outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = token_usage)]
pub struct Tally {
    pub accepted: i64,
    pub wrong_password: i64,
    pub outside_networks: i64,
    pub expired: i64,
    pub revoked: i64,
    pub throttled: i64,
}

impl Tally {
    pub fn refused(&self) -> i64 {
        self.wrong_password + self.outside_networks + self.after_end() + self.throttled
    }

    /// Calls with the right password after the token had ended.
    pub fn after_end(&self) -> i64 {
        self.expired + self.revoked
    }

    pub fn add(&mut self, other: &Tally) {
        self.accepted += other.accepted;
        self.wrong_password += other.wrong_password;
        self.outside_networks += other.outside_networks;
        self.expired += other.expired;
        self.revoked += other.revoked;
        self.throttled += other.throttled;
    }
}

/// One token's calls on one day, as a batch carries them.
#[derive(Debug, Clone, PartialEq)]
pub struct DayCount {
    pub token_id: TokenId,
    pub account_id: AccountId,
    pub day: NaiveDateTime,
    pub tally: Tally,
}

/// Midnight UTC of the day `at` falls on.
pub fn day_of(at: NaiveDateTime) -> NaiveDateTime {
    at.date().and_time(chrono::NaiveTime::MIN)
}

/// The first day of the last `days` days, today included.
pub fn window_start(now: NaiveDateTime, days: i64) -> NaiveDateTime {
    day_of(now) - Duration::days(days - 1)
}

/// Adds the batch's counts to the stored days, creating the rows it needs; only through
/// `usage_totals::add`, which keeps the lists' totals with them.
pub(super) fn add_days(conn: &mut DbConn, rows: &[DayCount]) -> QueryResult<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        match conn {
            DbConn::Sqlite(conn) => bind_all(
                diesel::sql_query(upsert_sql(chunk.len(), |_| "?".into())).into_boxed(),
                chunk,
            )
            .execute(conn)?,
            DbConn::Pg(conn) => bind_all(
                diesel::sql_query(upsert_sql(chunk.len(), |n| format!("${n}"))).into_boxed(),
                chunk,
            )
            .execute(conn)?,
        };
    }
    Ok(())
}

const COUNTS: [&str; 6] = [
    "accepted",
    "wrong_password",
    "outside_networks",
    "expired",
    "revoked",
    "throttled",
];

/// `INSERT … VALUES … ON CONFLICT (token_id, day) DO UPDATE` adding each count: both
/// backends take it; `placeholder(n)` writes the n-th bind (1-based).
fn upsert_sql(rows: usize, placeholder: impl Fn(usize) -> String) -> String {
    const BINDS: usize = 3 + COUNTS.len();
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let binds: Vec<String> = (1..=BINDS).map(|i| placeholder(row * BINDS + i)).collect();
            format!("({})", binds.join(", "))
        })
        .collect();
    let updates: Vec<String> = COUNTS
        .iter()
        .map(|c| format!("{c} = token_usage.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO token_usage (token_id, account_id, day, {}) VALUES {} \
         ON CONFLICT (token_id, day) DO UPDATE SET {}",
        COUNTS.join(", "),
        values.join(", "),
        updates.join(", ")
    )
}

fn bind_all<'a, DB>(
    mut query: BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>,
    rows: &'a [DayCount],
) -> BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>
where
    String: diesel::serialize::ToSql<Text, DB>,
    NaiveDateTime: diesel::serialize::ToSql<Timestamp, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<Timestamp>
        + diesel::sql_types::HasSqlType<BigInt>,
{
    for row in rows {
        let t = row.tally;
        query = query
            .bind::<Text, _>(row.token_id.as_str().to_string())
            .bind::<Text, _>(row.account_id.as_str().to_string())
            .bind::<Timestamp, _>(row.day);
        for count in [
            t.accepted,
            t.wrong_password,
            t.outside_networks,
            t.expired,
            t.revoked,
            t.throttled,
        ] {
            query = query.bind::<BigInt, _>(count);
        }
    }
    query
}

/// One token's days from `from` on, oldest first (days without calls have no row).
pub fn daily(
    conn: &mut DbConn,
    token: &TokenId,
    from: NaiveDateTime,
) -> QueryResult<Vec<(NaiveDateTime, Tally)>> {
    token_usage::table
        .filter(token_usage::token_id.eq(token))
        .filter(token_usage::day.ge(from))
        .order(token_usage::day)
        .select((token_usage::day, Tally::as_select()))
        .load(conn)
}

/// Deletes the rows of days before `before`, a chunk per statement; how many went.
pub fn delete_before(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    let chunk = |placeholder: &str| {
        format!(
            "DELETE FROM token_usage WHERE (token_id, day) IN \
             (SELECT token_id, day FROM token_usage WHERE day < {placeholder} LIMIT {DELETE_CHUNK})"
        )
    };
    let mut deleted = 0;
    loop {
        let gone = match conn {
            DbConn::Sqlite(conn) => diesel::sql_query(chunk("?"))
                .bind::<Timestamp, _>(before)
                .execute(conn)?,
            DbConn::Pg(conn) => diesel::sql_query(chunk("$1"))
                .bind::<Timestamp, _>(before)
                .execute(conn)?,
        };
        deleted += gone;
        if gone < DELETE_CHUNK {
            return Ok(deleted);
        }
    }
}
