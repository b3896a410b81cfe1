//! People who sign in: admins, support staff and members of an account.

use super::schema::{accounts, users};
use super::token_writes::TokenWrites;
use super::DbConn;
pub use crate::domain::Role;
use crate::domain::{AccountId, EmailAddress, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// What a signed-in request needs to know about its user and their account, loaded in one
/// query: the pages then need no other read of the account.
#[derive(Debug, Clone, Queryable)]
pub struct SessionUser {
    #[diesel(deserialize_as = String)]
    pub id: UserId,
    #[diesel(deserialize_as = String)]
    pub account_id: AccountId,
    pub email: String,
    #[diesel(deserialize_as = String)]
    pub role: Role,
    pub disabled: bool,
    pub account_name: String,
    pub account: AccountState,
}

/// An account as a request found it: its write version (see `accounts::lock`) and how
/// many audit events and notices it has (see `accounts::next_number`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Queryable, serde::Serialize, serde::Deserialize,
)]
pub struct AccountState {
    pub version: i64,
    pub audit_events: i64,
    pub notices: i64,
}

#[derive(Debug, Clone, Queryable)]
pub struct Credentials {
    #[diesel(deserialize_as = String)]
    pub id: UserId,
    #[diesel(deserialize_as = String)]
    pub account_id: AccountId,
    pub email: String,
    pub password_hash: String,
    pub disabled: bool,
}

pub struct NewUser<'a> {
    pub id: &'a UserId,
    pub account_id: &'a AccountId,
    pub email: &'a EmailAddress,
    pub password_hash: &'a str,
    pub role: Role,
}

/// The columns of a `SessionUser`, from `users` joined with `accounts`: written once, read
/// as the type and as the value (columns are unit structs).
macro_rules! session_user_columns {
    () => {
        (
            users::id,
            users::account_id,
            users::email,
            users::role,
            users::disabled,
            accounts::name,
            (
                accounts::lock_version,
                accounts::audit_seq,
                accounts::notice_seq,
            ),
        )
    };
}

pub type SessionUserColumns = session_user_columns!();
pub const SESSION_USER_COLUMNS: SessionUserColumns = session_user_columns!();

pub fn find_session_user(conn: &mut DbConn, id: &UserId) -> QueryResult<Option<SessionUser>> {
    users::table
        .inner_join(accounts::table.on(accounts::id.eq(users::account_id)))
        .filter(users::id.eq(id))
        .select(SESSION_USER_COLUMNS)
        .first(conn)
        .optional()
}

pub fn find_credentials(
    conn: &mut DbConn,
    email: &EmailAddress,
) -> QueryResult<Option<Credentials>> {
    users::table
        .filter(users::email.eq(email))
        .select((
            users::id,
            users::account_id,
            users::email,
            users::password_hash,
            users::disabled,
        ))
        .first(conn)
        .optional()
}

pub fn email_exists(conn: &mut DbConn, email: &EmailAddress) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table.filter(users::email.eq(email)),
    ))
    .get_result(conn)
}

/// Whether the account has a user with this address (the account's own users only).
pub fn exists_in_account(
    conn: &mut DbConn,
    account_id: &AccountId,
    email: &EmailAddress,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table
            .filter(users::account_id.eq(account_id))
            .filter(users::email.eq(email)),
    ))
    .get_result(conn)
}

pub fn any_exist(conn: &mut DbConn) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.select(users::id))).get_result(conn)
}

pub fn insert(conn: &mut DbConn, user: &NewUser<'_>, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values((
            users::id.eq(user.id),
            users::account_id.eq(user.account_id),
            users::email.eq(user.email),
            users::password_hash.eq(user.password_hash),
            users::role.eq(user.role),
            users::disabled.eq(false),
            users::created_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Any admin of the account (the oldest), e.g. to own synthetic tokens.
pub fn find_an_admin(conn: &mut DbConn, account_id: &AccountId) -> QueryResult<Option<UserId>> {
    let id: Option<String> = users::table
        .filter(users::account_id.eq(account_id))
        .filter(users::role.eq(Role::Admin))
        .order(users::created_at.asc())
        .select(users::id)
        .first(conn)
        .optional()?;
    Ok(id.map(UserId::from))
}

/// The account's enabled admins.
macro_rules! enabled_admins {
    ($account_id:expr) => {
        users::table
            .filter(users::account_id.eq($account_id))
            .filter(users::role.eq(Role::Admin))
            .filter(users::disabled.eq(false))
    };
}

/// The e-mail addresses of the account's enabled admins.
pub fn admin_emails(conn: &mut DbConn, account_id: &AccountId) -> QueryResult<Vec<String>> {
    enabled_admins!(account_id)
        .order(users::email.asc())
        .select(users::email)
        .load(conn)
}

/// The e-mail addresses of the account's enabled admins who want the weekly report.
pub fn weekly_report_emails(conn: &mut DbConn, account_id: &AccountId) -> QueryResult<Vec<String>> {
    enabled_admins!(account_id)
        .filter(users::weekly_report.eq(true))
        .order(users::email.asc())
        .select(users::email)
        .load(conn)
}

/// Whether the user wants the weekly report (`None`: no such user).
pub fn weekly_report(conn: &mut DbConn, id: &UserId) -> QueryResult<Option<bool>> {
    users::table
        .find(id.as_str())
        .select(users::weekly_report)
        .first(conn)
        .optional()
}

pub fn set_weekly_report(conn: &mut DbConn, id: &UserId, wanted: bool) -> QueryResult<()> {
    diesel::update(users::table.find(id.as_str()))
        .set(users::weekly_report.eq(wanted))
        .execute(conn)
        .map(|_| ())
}

/// The e-mail addresses of these users who are not disabled, by user id.
pub fn active_emails(conn: &mut DbConn, ids: &[&UserId]) -> QueryResult<Vec<(String, String)>> {
    users::table
        .filter(users::id.eq_any(ids.iter().map(|id| id.as_str())))
        .filter(users::disabled.eq(false))
        .select((users::id, users::email))
        .load(conn)
}

/// A person as the Users page shows them. `invited` means no password set yet.
#[derive(Debug, Clone, Queryable)]
pub struct UserRow {
    #[diesel(deserialize_as = String)]
    pub id: UserId,
    pub email: String,
    #[diesel(deserialize_as = String)]
    pub role: Role,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
}

macro_rules! user_rows {
    () => {
        users::table.select((
            users::id,
            users::email,
            users::role,
            users::disabled,
            users::created_at,
        ))
    };
}

/// Where a page of the Users list starts, in e-mail order.
#[derive(Debug, Clone)]
pub enum PageAt {
    First,
    After(String),
    Before(String),
}

/// Up to `limit` of the account's users in e-mail order, from `at`: a seek on
/// `users_account_email` (keyset pagination), never an OFFSET.
pub fn list(
    conn: &mut DbConn,
    account_id: &AccountId,
    at: &PageAt,
    limit: i64,
) -> QueryResult<Vec<UserRow>> {
    let in_account = user_rows!().filter(users::account_id.eq(account_id));
    match at {
        PageAt::First => in_account.order(users::email.asc()).limit(limit).load(conn),
        PageAt::After(email) => in_account
            .filter(users::email.gt(email))
            .order(users::email.asc())
            .limit(limit)
            .load(conn),
        PageAt::Before(email) => {
            let mut rows: Vec<UserRow> = in_account
                .filter(users::email.lt(email))
                .order(users::email.desc())
                .limit(limit)
                .load(conn)?;
            rows.reverse();
            Ok(rows)
        }
    }
}

pub fn find_in_account(
    conn: &mut DbConn,
    account_id: &AccountId,
    id: &UserId,
) -> QueryResult<Option<UserRow>> {
    user_rows!()
        .filter(users::account_id.eq(account_id))
        .filter(users::id.eq(id))
        .first(conn)
        .optional()
}

/// Admins who can act: enabled. (Someone invited is not a user until they accept.)
pub fn count_active_admins(conn: &mut DbConn, account_id: &AccountId) -> QueryResult<i64> {
    users::table
        .filter(users::account_id.eq(account_id))
        .filter(users::role.eq(Role::Admin))
        .filter(users::disabled.eq(false))
        .count()
        .get_result(conn)
}

/// Callers also end the user's sessions (`sessions::end_all`): they sign in again to the
/// pages of their new role.
pub fn set_role(conn: &mut TokenWrites<'_>, id: &UserId, role: Role) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::role.eq(role))
        .execute(conn.changing())
        .map(|_| ())
}

/// Callers disabling a user also end their sessions (`sessions::end_all`).
pub fn set_disabled(conn: &mut TokenWrites<'_>, id: &UserId, disabled: bool) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::disabled.eq(disabled))
        .execute(conn.changing())
        .map(|_| ())
}

/// Callers also end the user's sessions (`sessions::end_all`).
pub fn set_password(
    conn: &mut TokenWrites<'_>,
    id: &UserId,
    password_hash: &str,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::password_hash.eq(password_hash))
        .execute(conn.changing())
        .map(|_| ())
}

pub fn find_password_hash(conn: &mut DbConn, id: &UserId) -> QueryResult<Option<String>> {
    users::table
        .find(id)
        .filter(users::disabled.eq(false))
        .select(users::password_hash)
        .first(conn)
        .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_exist_sees_a_user() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::connect(&crate::config::DatabaseUrl::Sqlite(dir.path().join("t.db")))
            .unwrap();
        let mut conn = pool.get().unwrap();
        assert!(!any_exist(&mut conn).unwrap());
        let now = chrono::Utc::now().naive_utc();
        let account = AccountId::generate();
        crate::db::accounts::insert(&mut conn, &account, "A", now).unwrap();
        let email = EmailAddress::parse("e@x.y").unwrap();
        insert(
            &mut conn,
            &NewUser {
                id: &UserId::generate(),
                account_id: &account,
                email: &email,
                password_hash: "h",
                role: Role::Admin,
            },
            now,
        )
        .unwrap();
        let q = diesel::select(diesel::dsl::exists(users::table.select(users::id)));
        println!("{}", diesel::debug_query::<diesel::sqlite::Sqlite, _>(&q));
        assert!(email_exists(&mut conn, &email).unwrap());
        assert!(any_exist(&mut conn).unwrap());
    }
}
