//! What the weekly token report reads, and the record of the weeks already reported.

use super::schema::{accounts, api_tokens, users, weekly_reports};
use super::DbConn;
use crate::domain::{AccountId, TokenId};
use chrono::NaiveDateTime;
use diesel::dsl::{exists, not};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

/// An account to report on.
#[derive(Debug, Clone, Queryable)]
pub struct ReportedAccount {
    #[diesel(deserialize_as = String)]
    pub id: AccountId,
    pub name: String,
}

/// The accounts created before `week` began whose report for it is not queued yet.
pub fn due(conn: &mut DbConn, week: NaiveDateTime) -> QueryResult<Vec<ReportedAccount>> {
    accounts::table
        .filter(accounts::created_at.lt(week))
        .filter(not(exists(
            weekly_reports::table
                .filter(weekly_reports::account_id.eq(accounts::id))
                .filter(weekly_reports::week.eq(week)),
        )))
        .order(accounts::id.asc())
        .select((accounts::id, accounts::name))
        .load(conn)
}

/// Every account (`sesame digest --once`).
pub fn all_accounts(conn: &mut DbConn) -> QueryResult<Vec<ReportedAccount>> {
    accounts::table
        .order(accounts::id.asc())
        .select((accounts::id, accounts::name))
        .load(conn)
}

/// Whether the account's report for `week` was queued.
pub fn queued(conn: &mut DbConn, account_id: &AccountId, week: NaiveDateTime) -> QueryResult<bool> {
    diesel::select(exists(
        weekly_reports::table
            .filter(weekly_reports::account_id.eq(account_id))
            .filter(weekly_reports::week.eq(week)),
    ))
    .get_result(conn)
}

/// Records the account's report for `week` as queued (the caller checked `queued` with the
/// account's row locked, in the same transaction).
pub fn record(
    conn: &mut DbConn,
    account_id: &AccountId,
    week: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(weekly_reports::table)
        .values((
            weekly_reports::account_id.eq(account_id),
            weekly_reports::week.eq(week),
            weekly_reports::queued_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// A token in one of the report's lists: when (its expiry, or its creation) and its creator.
#[derive(Debug, Clone, Queryable)]
pub struct DatedToken {
    #[diesel(deserialize_as = String)]
    pub id: TokenId,
    pub name: String,
    pub at: NaiveDateTime,
    pub creator: String,
}

/// The first `limit` active tokens expiring in `(now, until]`, soonest first.
pub fn expiring(
    conn: &mut DbConn,
    account_id: &AccountId,
    now: NaiveDateTime,
    until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<DatedToken>> {
    api_tokens::table
        .inner_join(users::table.on(users::id.eq(api_tokens::created_by)))
        .filter(api_tokens::account_id.eq(account_id))
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.gt(now))
        .filter(api_tokens::expires_at.le(until))
        .order((api_tokens::expires_at.asc(), api_tokens::id.asc()))
        .limit(limit)
        .select((
            api_tokens::id,
            api_tokens::name,
            api_tokens::expires_at,
            users::email,
        ))
        .load(conn)
}

/// The first `limit` tokens created since `since`, newest first, whatever became of them;
/// and how many there are.
pub fn created_since(
    conn: &mut DbConn,
    account_id: &AccountId,
    since: NaiveDateTime,
    limit: i64,
) -> QueryResult<(Vec<DatedToken>, i64)> {
    let created = api_tokens::table
        .filter(api_tokens::account_id.eq(account_id))
        .filter(api_tokens::created_at.ge(since));
    let count = created.count().get_result(conn)?;
    let first = created
        .inner_join(users::table.on(users::id.eq(api_tokens::created_by)))
        .order((api_tokens::created_at.desc(), api_tokens::id.asc()))
        .limit(limit)
        .select((
            api_tokens::id,
            api_tokens::name,
            api_tokens::created_at,
            users::email,
        ))
        .load(conn)?;
    Ok((first, count))
}

/// A token's calls since a day: refused for coming from outside its allowed networks, and
/// made after it ended (refused as expired or revoked).
#[derive(Debug, Clone, QueryableByName)]
pub struct TokenCalls {
    #[diesel(sql_type = Text, deserialize_as = String)]
    pub id: TokenId,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub outside_networks: i64,
    #[diesel(sql_type = BigInt)]
    pub after_end: i64,
}

/// `calls_since`: the account's tokens by its index, then each one's days by primary key.
pub const CALLS_SQL: &str = "SELECT t.id AS id, t.name AS name, \
        CAST(SUM(u.outside_networks) AS BIGINT) AS outside_networks, \
        CAST(SUM(u.expired + u.revoked) AS BIGINT) AS after_end \
    FROM api_tokens t JOIN token_usage u ON u.token_id = t.id \
    WHERE t.account_id = $1 AND u.day >= $2 \
    GROUP BY t.id, t.name \
    HAVING SUM(u.outside_networks) > 0 OR SUM(u.expired + u.revoked) > 0";

/// Each of the account's tokens with calls of either kind on or after the day `from`: one
/// pass over their usage rows (a token's days are one range of the primary key).
pub fn calls_since(
    conn: &mut DbConn,
    account_id: &AccountId,
    from: NaiveDateTime,
) -> QueryResult<Vec<TokenCalls>> {
    match conn {
        DbConn::Sqlite(conn) => diesel::sql_query(CALLS_SQL.replace('$', "?"))
            .bind::<Text, _>(account_id.as_str())
            .bind::<Timestamp, _>(from)
            .load(conn),
        DbConn::Pg(conn) => diesel::sql_query(CALLS_SQL)
            .bind::<Text, _>(account_id.as_str())
            .bind::<Timestamp, _>(from)
            .load(conn),
    }
}
