//! The audit log: who did what to which token, when, from which address. Append-only.

use super::accounts::{self, Numbered};
use super::schema::{api_tokens, audit_events};
use super::DbConn;
use crate::domain::{AccountId, TokenId, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub struct NewEvent<'a> {
    pub account_id: Option<&'a AccountId>,
    pub actor_id: Option<&'a UserId>,
    pub actor_email: Option<&'a str>,
    pub action: &'a str,
    pub token_id: Option<&'a TokenId>,
    pub detail: &'a str,
    pub ip: Option<&'a str>,
}

#[derive(Debug, Clone, Queryable)]
pub struct EventRow {
    pub created_at: NaiveDateTime,
    pub actor_email: Option<String>,
    pub action: String,
    pub token_id: Option<String>,
    pub token_name: Option<String>,
    pub detail: String,
    pub ip: Option<String>,
}

/// Appends an event; one with an account takes the account's next number (see
/// `accounts::next_number`), in a savepoint so number and row commit together.
pub fn insert(conn: &mut DbConn, event: &NewEvent<'_>, now: NaiveDateTime) -> QueryResult<()> {
    conn.transaction(|conn| {
        let seq = match event.account_id {
            Some(account_id) => Some(accounts::next_number(
                conn,
                account_id,
                Numbered::AuditEvents,
            )?),
            None => None,
        };
        diesel::insert_into(audit_events::table)
            .values((
                audit_events::id.eq(super::new_id()),
                audit_events::account_id.eq(event.account_id.map(AccountId::as_str)),
                audit_events::actor_id.eq(event.actor_id.map(UserId::as_str)),
                audit_events::actor_email.eq(event.actor_email),
                audit_events::action.eq(event.action),
                audit_events::token_id.eq(event.token_id.map(TokenId::as_str)),
                audit_events::detail.eq(event.detail),
                audit_events::ip.eq(event.ip),
                audit_events::created_at.eq(now),
                audit_events::seq.eq(seq),
            ))
            .execute(conn)
            .map(|_| ())
    })
}

/// Up to `limit` of the account's events numbered `newest` and below, newest first: page N
/// of the log starts at number `count - (N - 1) * page size`, an index seek at any depth.
pub fn list(
    conn: &mut DbConn,
    account_id: &AccountId,
    newest: i64,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    audit_events::table
        .left_join(api_tokens::table.on(api_tokens::id.nullable().eq(audit_events::token_id)))
        .filter(audit_events::account_id.eq(account_id))
        .filter(audit_events::seq.le(newest))
        .order(audit_events::seq.desc())
        .limit(limit)
        .select((
            audit_events::created_at,
            audit_events::actor_email,
            audit_events::action,
            audit_events::token_id,
            api_tokens::name.nullable(),
            audit_events::detail,
            audit_events::ip,
        ))
        .load(conn)
}
