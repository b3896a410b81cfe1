//! Credential hand-off links: a token's credentials, revealed once to whoever opens the link.

use super::schema::{accounts, handoffs, users};
use super::DbConn;
use crate::domain::{AccountId, TokenId, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub struct NewHandoff<'a> {
    pub id: &'a str,
    pub token_id: &'a TokenId,
    pub account_id: &'a AccountId,
    pub code_hash: &'a [u8],
    pub expires_at: NaiveDateTime,
    pub sent_to: Option<&'a str>,
    pub created_by: &'a UserId,
}

pub fn insert(conn: &mut DbConn, handoff: &NewHandoff<'_>, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(handoffs::table)
        .values((
            handoffs::id.eq(handoff.id),
            handoffs::token_id.eq(handoff.token_id),
            handoffs::account_id.eq(handoff.account_id),
            handoffs::code_hash.eq(handoff.code_hash),
            handoffs::expires_at.eq(handoff.expires_at),
            handoffs::sent_to.eq(handoff.sent_to),
            handoffs::created_by.eq(handoff.created_by),
            handoffs::created_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

#[derive(Debug, Queryable)]
pub struct Handoff {
    pub id: String,
    #[diesel(deserialize_as = String)]
    pub token_id: TokenId,
    #[diesel(deserialize_as = String)]
    pub account_id: AccountId,
    pub expires_at: NaiveDateTime,
    pub opened_at: Option<NaiveDateTime>,
    pub cancelled_at: Option<NaiveDateTime>,
    /// Who made the link, and their account's name: the page names them, as the e-mail does.
    pub made_by: String,
    pub account_name: String,
}

pub fn find_by_hash(conn: &mut DbConn, code_hash: &[u8]) -> QueryResult<Option<Handoff>> {
    handoffs::table
        .inner_join(users::table.on(users::id.eq(handoffs::created_by)))
        .inner_join(accounts::table.on(accounts::id.eq(handoffs::account_id)))
        .filter(handoffs::code_hash.eq(code_hash))
        .select((
            handoffs::id,
            handoffs::token_id,
            handoffs::account_id,
            handoffs::expires_at,
            handoffs::opened_at,
            handoffs::cancelled_at,
            users::email,
            accounts::name,
        ))
        .first(conn)
        .optional()
}

/// A link that can still be opened, as the token page lists it.
#[derive(Debug, Queryable)]
pub struct OpenLink {
    pub id: String,
    pub made_by: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub sent_to: Option<String>,
}

/// The token's links neither revealed, cancelled nor expired, newest first.
pub fn list_open(
    conn: &mut DbConn,
    account_id: &AccountId,
    token_id: &TokenId,
    now: NaiveDateTime,
) -> QueryResult<Vec<OpenLink>> {
    handoffs::table
        .inner_join(users::table.on(users::id.eq(handoffs::created_by)))
        .filter(handoffs::token_id.eq(token_id))
        .filter(handoffs::account_id.eq(account_id))
        .filter(handoffs::opened_at.is_null())
        .filter(handoffs::cancelled_at.is_null())
        .filter(handoffs::expires_at.gt(now))
        .select((
            handoffs::id,
            users::email,
            handoffs::created_at,
            handoffs::expires_at,
            handoffs::sent_to,
        ))
        .load::<OpenLink>(conn)
        .map(|mut links| {
            // Sorted here: a handful at most, and no ORDER BY to plan (page_costs).
            links.sort_by_key(|link| std::cmp::Reverse(link.created_at));
            links
        })
}

/// Cancels one open link of the token; false if there is none (used, cancelled, another
/// token's or account's).
pub fn cancel(
    conn: &mut DbConn,
    account_id: &AccountId,
    token_id: &TokenId,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let cancelled = diesel::update(
        handoffs::table
            .find(id)
            .filter(handoffs::account_id.eq(account_id))
            .filter(handoffs::token_id.eq(token_id))
            .filter(handoffs::opened_at.is_null())
            .filter(handoffs::cancelled_at.is_null()),
    )
    .set(handoffs::cancelled_at.eq(now))
    .execute(conn)?;
    Ok(cancelled == 1)
}

/// Voids every unrevealed link a user made (they were disabled); how many.
pub fn cancel_made_by(
    conn: &mut DbConn,
    user_id: &UserId,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        handoffs::table
            .filter(handoffs::created_by.eq(user_id))
            .filter(handoffs::opened_at.is_null())
            .filter(handoffs::cancelled_at.is_null()),
    )
    .set(handoffs::cancelled_at.eq(now))
    .execute(conn)
}

/// Marks the link used; false if it already was, was cancelled, or has expired (two racing opens: one wins).
pub fn open(
    conn: &mut DbConn,
    id: &str,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let opened = diesel::update(
        handoffs::table
            .find(id)
            .filter(handoffs::opened_at.is_null())
            .filter(handoffs::cancelled_at.is_null())
            .filter(handoffs::expires_at.gt(now)),
    )
    .set((handoffs::opened_at.eq(now), handoffs::opened_ip.eq(ip)))
    .execute(conn)?;
    Ok(opened == 1)
}
