//! Each token's calls over the windows the lists show — API Tokens' "Calls (30 d)",
//! Expired & Revoked's calls after the end (7 d) — kept in `token_usage_totals`, so a page
//! of tokens reads one row per token instead of summing its days (at 90 days of rows a
//! token, summing a page's 25 × 30 rows cut API Tokens to a quarter of its throughput).
//!
//! The windows end on the day in `usage_rollup`. Each usage batch first brings them
//! forward to its own latest day, then adds its counts of the days inside them; the
//! scheduler's tick brings them forward too, so a quiet day still leaves the windows.
//! Bringing them forward subtracts the days that left each window (or, after 30 days or
//! more, sums them again from `token_usage`). Both lock the one `usage_rollup` row first, in
//! their transaction, so no batch adds into windows that are moving under it: on either
//! backend, and with several processes.

use super::schema::{token_usage_totals, usage_rollup};
use super::usage::{self, day_of, window_start, DayCount};
use super::DbConn;
use crate::domain::TokenId;
use chrono::{DateTime, Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{BigInt, Text, Timestamp};
use std::collections::HashMap;

/// API Tokens' window, today included.
pub const CALLS_DAYS: i64 = 30;
/// Expired & Revoked's window for calls after the end, today included.
pub const ENDED_DAYS: i64 = 7;
/// Tokens per upsert statement: four binds each.
const ROWS_PER_STATEMENT: usize = 500;

/// One token's calls in the lists' windows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = token_usage_totals)]
pub struct Totals {
    pub accepted_30d: i64,
    pub refused_30d: i64,
    pub after_end_7d: i64,
}

/// `Tally::refused` and `Tally::after_end` in SQL, over `token_usage` rows.
const REFUSED_SQL: &str = "wrong_password + outside_networks + expired + revoked + throttled";
const AFTER_END_SQL: &str = "expired + revoked";

/// The totals of these tokens (a token without calls in the windows is absent).
pub fn of(conn: &mut DbConn, ids: &[&TokenId]) -> QueryResult<HashMap<TokenId, Totals>> {
    let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
    let rows: Vec<(String, Totals)> = token_usage_totals::table
        .filter(token_usage_totals::token_id.eq_any(&ids))
        .select((token_usage_totals::token_id, Totals::as_select()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, totals)| (TokenId::from(id), totals))
        .collect())
}

/// Brings the windows forward to end on the day of `now` (the scheduler's tick).
pub fn roll_to(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<()> {
    let ends: NaiveDateTime = usage_rollup::table.select(usage_rollup::day).first(conn)?;
    if day_of(now) <= ends {
        // Most ticks: no write, so no write lock.
        return Ok(());
    }
    super::transaction(conn, |conn| {
        let ends = lock(conn)?;
        roll(conn, ends, day_of(now)).map(|_| ())
    })
}

/// Adds a batch's counts to the stored days (`db::usage`) and to the lists' totals, in one
/// transaction: the one way usage is written.
pub fn add(conn: &mut DbConn, rows: &[DayCount]) -> QueryResult<()> {
    super::transaction(conn, |conn| {
        let ends = before_batch(conn, rows)?;
        usage::add_days(conn, rows)?;
        add_batch(conn, rows, ends)
    })
}

/// Before a batch's rows are written, in its transaction: locks the windows and brings
/// them forward to the batch's latest day; the day they end on.
fn before_batch(conn: &mut DbConn, rows: &[DayCount]) -> QueryResult<NaiveDateTime> {
    let ends = lock(conn)?;
    match rows.iter().map(|row| row.day).max() {
        Some(latest) => roll(conn, ends, latest),
        None => Ok(ends),
    }
}

/// After the batch's rows are written, in the same transaction: adds the counts of the
/// days inside the windows ending on `ends` (as `before_batch` returned it).
fn add_batch(conn: &mut DbConn, rows: &[DayCount], ends: NaiveDateTime) -> QueryResult<()> {
    let calls_from = window_start(ends, CALLS_DAYS);
    let ended_from = window_start(ends, ENDED_DAYS);
    let mut added: HashMap<&str, Totals> = HashMap::new();
    for row in rows.iter().filter(|row| row.day >= calls_from) {
        let totals = added.entry(row.token_id.as_str()).or_default();
        totals.accepted_30d += row.tally.accepted;
        totals.refused_30d += row.tally.refused();
        if row.day >= ended_from {
            totals.after_end_7d += row.tally.after_end();
        }
    }
    let mut added: Vec<(&str, Totals)> = added.into_iter().collect();
    // One order for every writer's row locks.
    added.sort_unstable_by_key(|(id, _)| *id);
    for chunk in added.chunks(ROWS_PER_STATEMENT) {
        let sql = upsert_sql(chunk.len());
        match conn {
            DbConn::Sqlite(conn) => {
                bind_totals(diesel::sql_query(sql.replace('$', "?")).into_boxed(), chunk)
                    .execute(conn)?
            }
            DbConn::Pg(conn) => {
                bind_totals(diesel::sql_query(sql).into_boxed(), chunk).execute(conn)?
            }
        };
    }
    Ok(())
}

/// "Never computed": the migration's value.
fn never() -> NaiveDateTime {
    DateTime::UNIX_EPOCH.naive_utc()
}

/// Locks the `usage_rollup` row for the rest of the transaction (a row lock on
/// PostgreSQL; SQLite's transactions hold the write lock already); the day it holds.
fn lock(conn: &mut DbConn) -> QueryResult<NaiveDateTime> {
    diesel::update(usage_rollup::table)
        .set(usage_rollup::day.eq(usage_rollup::day))
        .execute(conn)?;
    usage_rollup::table.select(usage_rollup::day).first(conn)
}

/// Moves the windows' end from `ends` to `to` if that is later; the day they end on.
fn roll(conn: &mut DbConn, ends: NaiveDateTime, to: NaiveDateTime) -> QueryResult<NaiveDateTime> {
    if to <= ends {
        return Ok(ends);
    }
    if ends == never() || to - ends >= Duration::days(CALLS_DAYS) {
        sum_again(conn, to)?;
    } else {
        subtract_leaving(conn, ends, to)?;
    }
    diesel::update(usage_rollup::table)
        .set(usage_rollup::day.eq(to))
        .execute(conn)?;
    Ok(to)
}

/// Every token's totals summed from its days, for windows ending on `ends`.
fn sum_again(conn: &mut DbConn, ends: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(token_usage_totals::table).execute(conn)?;
    let sql = format!(
        "INSERT INTO token_usage_totals (token_id, accepted_30d, refused_30d, after_end_7d) \
         SELECT token_id, SUM(accepted), SUM({REFUSED_SQL}), \
         SUM(CASE WHEN day >= $2 THEN {AFTER_END_SQL} ELSE 0 END) \
         FROM token_usage WHERE day >= $1 GROUP BY token_id"
    );
    let days = [
        window_start(ends, CALLS_DAYS),
        window_start(ends, ENDED_DAYS),
    ];
    execute_with_days(conn, &sql, &days).map(|_| ())
}

/// Subtracts the days that leave each window as its end moves from `from` to `to` (less
/// than `CALLS_DAYS` later): one statement over the tokens with rows on those days.
fn subtract_leaving(conn: &mut DbConn, from: NaiveDateTime, to: NaiveDateTime) -> QueryResult<()> {
    let sum = |what: &str, first: usize| {
        format!(
            "COALESCE((SELECT SUM({what}) FROM token_usage u \
             WHERE u.token_id = token_usage_totals.token_id \
             AND u.day >= ${first} AND u.day < ${}), 0)",
            first + 1
        )
    };
    let sql = format!(
        "UPDATE token_usage_totals SET \
         accepted_30d = accepted_30d - {}, refused_30d = refused_30d - {}, \
         after_end_7d = after_end_7d - {} \
         WHERE token_id IN (SELECT token_id FROM token_usage \
         WHERE (day >= $1 AND day < $2) OR (day >= $3 AND day < $4))",
        sum("accepted", 1),
        sum(REFUSED_SQL, 1),
        sum(AFTER_END_SQL, 3),
    );
    let days = [
        window_start(from, CALLS_DAYS),
        window_start(to, CALLS_DAYS),
        window_start(from, ENDED_DAYS),
        window_start(to, ENDED_DAYS),
    ];
    execute_with_days(conn, &sql, &days)?;
    diesel::delete(
        token_usage_totals::table
            .filter(token_usage_totals::accepted_30d.eq(0))
            .filter(token_usage_totals::refused_30d.eq(0))
            .filter(token_usage_totals::after_end_7d.eq(0)),
    )
    .execute(conn)
    .map(|_| ())
}

/// Runs `sql`, whose placeholders are `$1`, `$2`, … (SQLite reads them as `?1`, `?2`),
/// with `days` bound in order.
fn execute_with_days(conn: &mut DbConn, sql: &str, days: &[NaiveDateTime]) -> QueryResult<usize> {
    match conn {
        DbConn::Sqlite(conn) => {
            let mut query = diesel::sql_query(sql.replace('$', "?")).into_boxed();
            for day in days {
                query = query.bind::<Timestamp, _>(*day);
            }
            query.execute(conn)
        }
        DbConn::Pg(conn) => {
            let mut query = diesel::sql_query(sql).into_boxed();
            for day in days {
                query = query.bind::<Timestamp, _>(*day);
            }
            query.execute(conn)
        }
    }
}

fn upsert_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let n = row * 4;
            format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4)
        })
        .collect();
    format!(
        "INSERT INTO token_usage_totals (token_id, accepted_30d, refused_30d, after_end_7d) \
         VALUES {} ON CONFLICT (token_id) DO UPDATE SET \
         accepted_30d = token_usage_totals.accepted_30d + excluded.accepted_30d, \
         refused_30d = token_usage_totals.refused_30d + excluded.refused_30d, \
         after_end_7d = token_usage_totals.after_end_7d + excluded.after_end_7d",
        values.join(", ")
    )
}

fn bind_totals<'a, DB>(
    mut query: BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>,
    rows: &'a [(&'a str, Totals)],
) -> BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>
where
    &'a str: diesel::serialize::ToSql<Text, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<BigInt>,
{
    for (id, totals) in rows {
        query = query
            .bind::<Text, _>(*id)
            .bind::<BigInt, _>(totals.accepted_30d)
            .bind::<BigInt, _>(totals.refused_30d)
            .bind::<BigInt, _>(totals.after_end_7d);
    }
    query
}
