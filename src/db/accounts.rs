//! Company accounts: every user and token belongs to exactly one.

use super::schema::accounts;
use super::DbConn;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: String,
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

pub fn insert(conn: &mut DbConn, id: &str, name: &str, now: NaiveDateTime) -> QueryResult<()> {
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

/// Takes the account's write lock as the first statement of a transaction: a row lock on
/// PostgreSQL, the database write lock on SQLite. Check-then-write rules (unique active
/// names) are then safe against concurrent requests.
pub fn lock(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    diesel::update(accounts::table.find(id))
        .set(accounts::lock_version.eq(accounts::lock_version + 1))
        .execute(conn)
        .map(|_| ())
}

/// The account's write version: every transaction that changes its tokens bumps it first
/// (`lock`), so anything derived from its tokens at version v is current while it stays v.
pub fn version(conn: &mut DbConn, id: &str) -> QueryResult<i64> {
    accounts::table
        .find(id)
        .select(accounts::lock_version)
        .first(conn)
}
