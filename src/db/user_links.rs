//! One-time links for people: password resets (1 h). (Invitations are `invitations`.)

use super::schema::user_links;
use super::DbConn;
use crate::domain::UserId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub const RESET: &str = "reset";

pub fn insert(
    conn: &mut DbConn,
    user_id: &UserId,
    purpose: &str,
    code_hash: &[u8],
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(user_links::table)
        .values((
            user_links::id.eq(super::new_id()),
            user_links::user_id.eq(user_id),
            user_links::purpose.eq(purpose),
            user_links::code_hash.eq(code_hash),
            user_links::expires_at.eq(expires_at),
            user_links::created_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

#[derive(Debug, Queryable)]
pub struct UserLink {
    pub id: String,
    #[diesel(deserialize_as = String)]
    pub user_id: UserId,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn find(conn: &mut DbConn, purpose: &str, code_hash: &[u8]) -> QueryResult<Option<UserLink>> {
    user_links::table
        .filter(user_links::purpose.eq(purpose))
        .filter(user_links::code_hash.eq(code_hash))
        .select((
            user_links::id,
            user_links::user_id,
            user_links::expires_at,
            user_links::used_at,
        ))
        .first(conn)
        .optional()
}

/// Uses the link; false if it already was, or has expired.
pub fn consume(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let used = diesel::update(
        user_links::table
            .find(id)
            .filter(user_links::used_at.is_null())
            .filter(user_links::expires_at.gt(now)),
    )
    .set(user_links::used_at.eq(now))
    .execute(conn)?;
    Ok(used == 1)
}

/// After a password is set: every other link of the user stops working.
pub fn void_all(conn: &mut DbConn, user_id: &UserId, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(
        user_links::table
            .filter(user_links::user_id.eq(user_id))
            .filter(user_links::used_at.is_null()),
    )
    .set(user_links::used_at.eq(now))
    .execute(conn)
    .map(|_| ())
}
