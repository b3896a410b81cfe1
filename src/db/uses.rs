//! API uses, written in batches: every token used since the last tick gets its last use in
//! one statement, on either backend.

use super::schema::api_tokens;
use super::DbConn;
use crate::domain::{AccountId, TokenId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{Nullable, Text, Timestamp};
use std::collections::{BTreeMap, HashMap};

/// One token's latest use in a batch.
pub struct Use {
    pub token_id: TokenId,
    pub ip: Option<String>,
    pub at: NaiveDateTime,
    /// Not written if a use at or after this was already recorded (by any process).
    pub unless_since: NaiveDateTime,
}

/// Records each use, in one statement (`uses` holds each token once).
pub fn record(conn: &mut DbConn, uses: &[Use]) -> QueryResult<()> {
    if uses.is_empty() {
        return Ok(());
    }
    match conn {
        DbConn::Sqlite(conn) => bind_all(
            diesel::sql_query(update_sql(uses.len(), |_| "?".into())).into_boxed(),
            uses,
        )
        .execute(conn),
        DbConn::Pg(conn) => bind_all(
            diesel::sql_query(update_sql(uses.len(), |n| format!("${n}"))).into_boxed(),
            uses,
        )
        .execute(conn),
    }
    .map(|_| ())
}

/// Before `record`, in its transaction: stamps the tokens whose use falls on a later UTC
/// day than their stored last use as changed, under their account's next write version, so
/// every process's in-memory lists (`tokens::lists`) read their new last use, and "unused
/// for N days" stays exact to the day. At most once a token a day; other uses change
/// nothing the lists show.
pub fn stamp_new_days(conn: &mut DbConn, uses: &[Use]) -> QueryResult<()> {
    let ids: Vec<&str> = uses.iter().map(|u| u.token_id.as_str()).collect();
    let stored: Vec<(String, String, Option<NaiveDateTime>)> = api_tokens::table
        .filter(api_tokens::id.eq_any(&ids))
        .select((
            api_tokens::id,
            api_tokens::account_id,
            api_tokens::last_used_at,
        ))
        .load(conn)?;
    let used_at: HashMap<&str, NaiveDateTime> =
        uses.iter().map(|u| (u.token_id.as_str(), u.at)).collect();
    let mut by_account: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, account, last_used_at) in stored {
        let Some(at) = used_at.get(id.as_str()) else {
            continue;
        };
        if last_used_at.is_none_or(|last| last.date() < at.date()) {
            by_account.entry(account).or_default().push(id);
        }
    }
    // Accounts in one order, as every writer takes their locks.
    for (account, ids) in by_account {
        let version = super::accounts::lock(conn, &AccountId::from(account))?;
        diesel::update(api_tokens::table.filter(api_tokens::id.eq_any(&ids)))
            .set(api_tokens::changed_version.eq(version))
            .execute(conn)?;
    }
    Ok(())
}

/// `WITH v(…) AS (VALUES …) UPDATE … FROM v`: both backends take it (SQLite since 3.33);
/// `placeholder(n)` writes the n-th bind (1-based).
fn update_sql(rows: usize, placeholder: impl Fn(usize) -> String) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let n = row * 4;
            format!(
                "({}, {}, {}, {})",
                placeholder(n + 1),
                placeholder(n + 2),
                placeholder(n + 3),
                placeholder(n + 4)
            )
        })
        .collect();
    format!(
        "WITH v(id, at, ip, since) AS (VALUES {}) \
         UPDATE api_tokens SET last_used_at = v.at, last_used_ip = v.ip FROM v \
         WHERE api_tokens.id = v.id \
         AND (api_tokens.last_used_at IS NULL OR api_tokens.last_used_at <= v.since)",
        values.join(", ")
    )
}

fn bind_all<'a, DB>(
    mut query: BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>,
    uses: &'a [Use],
) -> BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>
where
    String: diesel::serialize::ToSql<Text, DB>,
    NaiveDateTime: diesel::serialize::ToSql<Timestamp, DB>,
    Option<String>: diesel::serialize::ToSql<Nullable<Text>, DB>,
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<Timestamp>
        + diesel::sql_types::HasSqlType<Nullable<Text>>,
{
    for used in uses {
        query = query
            .bind::<Text, _>(used.token_id.as_str().to_string())
            .bind::<Timestamp, _>(used.at)
            .bind::<Nullable<Text>, _>(used.ip.clone())
            .bind::<Timestamp, _>(used.unless_since);
    }
    query
}

/// Of these tokens, the renewals whose first use is to revoke the token they replace.
pub fn renewals_to_apply(conn: &mut DbConn, ids: &[&str]) -> QueryResult<Vec<TokenId>> {
    let found: Vec<String> = api_tokens::table
        .filter(api_tokens::id.eq_any(ids))
        .filter(api_tokens::revoke_replaced_on_use.eq(true))
        .select(api_tokens::id)
        .load(conn)?;
    Ok(found.into_iter().map(TokenId::from).collect())
}
