//! Sessions, found by the SHA-256 of their cookie key (the key itself is never stored),
//! and the devices people sign in from.

use super::schema::{accounts, sessions, sign_in_devices, users};
use super::token_writes::TokenWrites;
use super::users::{self as user_rows, SessionUser};
use super::DbConn;
use crate::domain::UserId;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

/// A device (browser, OS, address) not seen signing in as the user for this long is new.
pub const NEW_DEVICE_DAYS: i64 = 30;

pub struct NewSession<'a> {
    pub id: &'a str,
    pub key_hash: &'a [u8],
    pub user_id: Option<&'a UserId>,
    pub state: &'a str,
    pub created_at: NaiveDateTime,
    pub seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub ip: Option<&'a str>,
    pub browser: &'a str,
    pub os: &'a str,
}

/// What a request needs of its session, and of its user and their account (read in the
/// same query, so that a signed-in page needs no other read of them).
#[derive(Debug, Queryable)]
pub struct Stored {
    pub id: String,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub user: Option<SessionUser>,
}

/// A signed-in session, as its user's list shows it.
#[derive(Debug, Queryable)]
pub struct Listed {
    pub id: String,
    pub created_at: NaiveDateTime,
    pub seen_at: NaiveDateTime,
    pub ip: Option<String>,
    pub browser: String,
    pub os: String,
}

pub fn insert(conn: &mut DbConn, new: &NewSession<'_>) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(new.id),
            sessions::key_hash.eq(new.key_hash),
            sessions::user_id.eq(new.user_id.map(UserId::as_str)),
            sessions::state.eq(new.state),
            sessions::created_at.eq(new.created_at),
            sessions::seen_at.eq(new.seen_at),
            sessions::expires_at.eq(new.expires_at),
            sessions::ip.eq(new.ip),
            sessions::browser.eq(new.browser),
            sessions::os.eq(new.os),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The one read a request makes of its session, with its user (the unique index on
/// `key_hash`, then two primary keys).
pub fn find(conn: &mut DbConn, key_hash: &[u8]) -> QueryResult<Option<Stored>> {
    sessions::table
        .left_join(users::table.on(users::id.nullable().eq(sessions::user_id)))
        .left_join(accounts::table.on(accounts::id.nullable().eq(users::account_id.nullable())))
        .filter(sessions::key_hash.eq(key_hash))
        .select((
            sessions::id,
            sessions::state,
            sessions::created_at,
            sessions::seen_at,
            sessions::expires_at,
            user_rows::SESSION_USER_COLUMNS.nullable(),
        ))
        .first(conn)
        .optional()
}

/// New values for a session; false when the session has ended meanwhile (an update never
/// brings an ended session back).
pub fn update(conn: &mut DbConn, key_hash: &[u8], state: &str) -> QueryResult<bool> {
    diesel::update(sessions::table.filter(sessions::key_hash.eq(key_hash)))
        .set(sessions::state.eq(state))
        .execute(conn)
        .map(|n| n == 1)
}

/// New values and a new key, in one statement: the old key opens nothing from then on
/// (its cached claims are let go); false when the session has ended meanwhile.
pub fn rotate(
    conn: &mut TokenWrites<'_>,
    key_hash: &[u8],
    new_key_hash: &[u8],
    state: &str,
) -> QueryResult<bool> {
    diesel::update(sessions::table.filter(sessions::key_hash.eq(key_hash)))
        .set((
            sessions::key_hash.eq(new_key_hash),
            sessions::state.eq(state),
        ))
        .execute(&mut **conn)
        .map(|n| conn.changed_rows(n) == 1)
}

/// Notes a request: last seen, and the idle timeout moved on.
pub fn touch(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(sessions::table.find(id))
        .set((
            sessions::seen_at.eq(now),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Signing out. Ending a session changes what the checks may cache (`db::token_writes`),
/// as do all the ends below.
pub fn delete_by_key(conn: &mut TokenWrites<'_>, key_hash: &[u8]) -> QueryResult<()> {
    diesel::delete(sessions::table.filter(sessions::key_hash.eq(key_hash)))
        .execute(&mut **conn)
        .map(|n| conn.changed_rows(n))
        .map(|_| ())
}

/// The user's live sessions, the most recently seen first.
pub fn list_for_user(
    conn: &mut DbConn,
    user_id: &UserId,
    now: NaiveDateTime,
) -> QueryResult<Vec<Listed>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(now))
        .order((sessions::seen_at.desc(), sessions::id.asc()))
        .select((
            sessions::id,
            sessions::created_at,
            sessions::seen_at,
            sessions::ip,
            sessions::browser,
            sessions::os,
        ))
        .load(conn)
}

/// Ends one session of the user; false if they have none with this id.
pub fn end_one(conn: &mut TokenWrites<'_>, user_id: &UserId, id: &str) -> QueryResult<bool> {
    diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::id.eq(id)),
    )
    .execute(&mut **conn)
    .map(|n| conn.changed_rows(n) == 1)
}

/// Ends every session of the user but `keep`; how many ended.
pub fn end_others(conn: &mut TokenWrites<'_>, user_id: &UserId, keep: &str) -> QueryResult<usize> {
    diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::id.ne(keep)),
    )
    .execute(&mut **conn)
    .map(|n| conn.changed_rows(n))
}

/// Ends every session of the user (disabled, new password, new role, or an admin's order).
pub fn end_all(conn: &mut TokenWrites<'_>, user_id: &UserId) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)))
        .execute(&mut **conn)
        .map(|n| conn.changed_rows(n))
}

/// Ends every session of every user (the operator's `sesame sessions end-all`).
pub fn end_everyone(conn: &mut TokenWrites<'_>) -> QueryResult<usize> {
    diesel::delete(sessions::table)
        .execute(&mut **conn)
        .map(|n| conn.changed_rows(n))
}

/// The scheduler's sweep: sessions past their timeout, devices not seen for `device_days`.
pub fn delete_expired(
    conn: &mut DbConn,
    now: NaiveDateTime,
    devices_before: NaiveDateTime,
) -> QueryResult<usize> {
    let ended =
        diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)?;
    diesel::delete(sign_in_devices::table.filter(sign_in_devices::last_at.lt(devices_before)))
        .execute(conn)?;
    Ok(ended)
}

/// The user's browser, OS and address, as one sign-in came from them.
pub struct SignInDevice<'a> {
    pub user_id: &'a UserId,
    pub browser: &'a str,
    pub os: &'a str,
    pub ip: &'a str,
}

/// Records a sign-in from `device`; true when it had not signed in since `since` (a new
/// device).
pub fn remember_device(
    conn: &mut DbConn,
    device: &SignInDevice<'_>,
    since: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let this = sign_in_devices::table
        .filter(sign_in_devices::user_id.eq(device.user_id))
        .filter(sign_in_devices::browser.eq(device.browser))
        .filter(sign_in_devices::os.eq(device.os))
        .filter(sign_in_devices::ip.eq(device.ip));
    let last: Option<NaiveDateTime> = this
        .select(sign_in_devices::last_at)
        .first(conn)
        .optional()?;
    if last.is_some() {
        diesel::update(this)
            .set(sign_in_devices::last_at.eq(now))
            .execute(conn)?;
        return Ok(last.is_some_and(|at| at < since));
    }
    // In a savepoint: on PostgreSQL a failed insert would spoil the caller's transaction.
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(sign_in_devices::table)
            .values((
                sign_in_devices::user_id.eq(device.user_id),
                sign_in_devices::browser.eq(device.browser),
                sign_in_devices::os.eq(device.os),
                sign_in_devices::ip.eq(device.ip),
                sign_in_devices::last_at.eq(now),
            ))
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(true),
        // The same device signing in twice at once: the other sign-in told the user.
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(other) => Err(other),
    }
}
