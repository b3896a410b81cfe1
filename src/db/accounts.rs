//! Company accounts: every user and token belongs to exactly one.

use super::schema::accounts;
use super::DbConn;
use crate::domain::AccountId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct Account {
    #[diesel(deserialize_as = String)]
    pub id: AccountId,
    pub name: String,
    pub created_at: NaiveDateTime,
}

pub fn find_by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<Account>> {
    accounts::table
        .filter(accounts::name.eq(name))
        .select(Account::as_select())
        .first(conn)
        .optional()
}

pub fn insert(
    conn: &mut DbConn,
    id: &AccountId,
    name: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(accounts::table)
        .values((
            accounts::id.eq(id),
            accounts::name.eq(name),
            accounts::created_at.eq(now),
            accounts::lock_version.eq(0i64),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The longest token lifetime the account allows, in days (`/settings`).
pub fn max_lifetime_days(conn: &mut DbConn, id: &AccountId) -> QueryResult<i64> {
    let days: i32 = accounts::table
        .find(id)
        .select(accounts::max_lifetime_days)
        .first(conn)?;
    Ok(i64::from(days))
}

/// Sets the account's longest token lifetime; the one it replaced.
pub fn set_max_lifetime_days(conn: &mut DbConn, id: &AccountId, days: i32) -> QueryResult<i64> {
    let before = max_lifetime_days(conn, id)?;
    diesel::update(accounts::table.find(id))
        .set(accounts::max_lifetime_days.eq(days))
        .execute(conn)?;
    Ok(before)
}

/// Takes the account's write lock as the first statement of a transaction: a row lock on
/// PostgreSQL, the database write lock on SQLite. Check-then-write rules (unique active
/// names) are then safe against concurrent requests. Returns the account's new write
/// version, which the transaction stamps on every token it changes.
pub fn lock(conn: &mut DbConn, id: &AccountId) -> QueryResult<i64> {
    diesel::update(accounts::table.find(id))
        .set(accounts::lock_version.eq(accounts::lock_version + 1))
        .returning(accounts::lock_version)
        .get_result(conn)
}

/// The account's write version: every transaction that changes its tokens bumps it first
/// (`lock`), so anything derived from its tokens at version v is current while it stays v.
pub fn version(conn: &mut DbConn, id: &AccountId) -> QueryResult<i64> {
    accounts::table
        .find(id)
        .select(accounts::lock_version)
        .first(conn)
}

/// The account's append-only lists, each numbered 1, 2, 3… per account.
#[derive(Debug, Clone, Copy)]
pub enum Numbered {
    AuditEvents,
    Notices,
}

/// The next number of the account's list, taken inside the caller's transaction (on
/// PostgreSQL the account row stays locked until it commits, so numbers never repeat and a
/// rolled-back insert gives its number back: the list stays dense).
pub fn next_number(conn: &mut DbConn, id: &AccountId, list: Numbered) -> QueryResult<i64> {
    take_numbers(conn, id, list, 1)
}

/// Takes `n` numbers of the account's list at once; returns the last of them.
pub fn take_numbers(conn: &mut DbConn, id: &AccountId, list: Numbered, n: i64) -> QueryResult<i64> {
    let update = diesel::update(accounts::table.find(id));
    match list {
        Numbered::AuditEvents => update
            .set(accounts::audit_seq.eq(accounts::audit_seq + n))
            .returning(accounts::audit_seq)
            .get_result(conn),
        Numbered::Notices => update
            .set(accounts::notice_seq.eq(accounts::notice_seq + n))
            .returning(accounts::notice_seq)
            .get_result(conn),
    }
}
