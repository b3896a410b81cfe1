//! Credential hand-off links: a token's credentials, revealed once to whoever opens the link.

use super::schema::handoffs;
use super::DbConn;
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub struct NewHandoff<'a> {
    pub id: &'a str,
    pub token_id: &'a str,
    pub account_id: &'a str,
    pub code_hash: &'a [u8],
    pub expires_at: NaiveDateTime,
    pub sent_to: Option<&'a str>,
    pub created_by: &'a str,
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
    pub token_id: String,
    pub account_id: String,
    pub expires_at: NaiveDateTime,
    pub opened_at: Option<NaiveDateTime>,
}

pub fn find_by_hash(conn: &mut DbConn, code_hash: &[u8]) -> QueryResult<Option<Handoff>> {
    handoffs::table
        .filter(handoffs::code_hash.eq(code_hash))
        .select((
            handoffs::id,
            handoffs::token_id,
            handoffs::account_id,
            handoffs::expires_at,
            handoffs::opened_at,
        ))
        .first(conn)
        .optional()
}

/// Marks the link used; false if it already was, or has expired (two racing opens: one wins).
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
            .filter(handoffs::expires_at.gt(now)),
    )
    .set((handoffs::opened_at.eq(now), handoffs::opened_ip.eq(ip)))
    .execute(conn)?;
    Ok(opened == 1)
}
