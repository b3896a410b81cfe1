//! Invitations: a one-time link (72 h) for a person to join an account with a role. Not a
//! user until accepted, so a pending one reserves no address.

use super::schema::invitations;
use super::DbConn;
use crate::domain::{AccountId, EmailAddress, Role, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable)]
pub struct Invitation {
    pub id: String,
    #[diesel(deserialize_as = String)]
    pub account_id: AccountId,
    #[diesel(deserialize_as = String)]
    pub email: EmailAddress,
    #[diesel(deserialize_as = String)]
    pub role: Role,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
    pub cancelled_at: Option<NaiveDateTime>,
}

macro_rules! invitation_rows {
    () => {
        invitations::table.select((
            invitations::id,
            invitations::account_id,
            invitations::email,
            invitations::role,
            invitations::created_at,
            invitations::expires_at,
            invitations::accepted_at,
            invitations::cancelled_at,
        ))
    };
}

pub struct NewInvitation<'a> {
    pub account_id: &'a AccountId,
    pub email: &'a EmailAddress,
    pub role: Role,
    pub invited_by: &'a UserId,
    pub code_hash: &'a [u8],
    pub expires_at: NaiveDateTime,
}

/// Invites the address, or renews the account's open invitation of it (new link, role
/// and expiry: the old link stops working). The invitation's id.
pub fn send(conn: &mut DbConn, new: &NewInvitation<'_>, now: NaiveDateTime) -> QueryResult<String> {
    let open: Option<String> = invitations::table
        .filter(invitations::account_id.eq(new.account_id))
        .filter(invitations::email.eq(new.email))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::cancelled_at.is_null())
        .select(invitations::id)
        .first(conn)
        .optional()?;
    match open {
        Some(id) => {
            diesel::update(invitations::table.find(&id))
                .set((
                    invitations::role.eq(new.role),
                    invitations::invited_by.eq(new.invited_by),
                    invitations::code_hash.eq(new.code_hash),
                    invitations::created_at.eq(now),
                    invitations::expires_at.eq(new.expires_at),
                ))
                .execute(conn)?;
            Ok(id)
        }
        None => {
            let id = super::new_id();
            diesel::insert_into(invitations::table)
                .values((
                    invitations::id.eq(&id),
                    invitations::account_id.eq(new.account_id),
                    invitations::email.eq(new.email),
                    invitations::role.eq(new.role),
                    invitations::invited_by.eq(new.invited_by),
                    invitations::code_hash.eq(new.code_hash),
                    invitations::created_at.eq(now),
                    invitations::expires_at.eq(new.expires_at),
                ))
                .execute(conn)?;
            Ok(id)
        }
    }
}

pub fn find_by_hash(conn: &mut DbConn, code_hash: &[u8]) -> QueryResult<Option<Invitation>> {
    invitation_rows!()
        .filter(invitations::code_hash.eq(code_hash))
        .first(conn)
        .optional()
}

pub fn find_in_account(
    conn: &mut DbConn,
    account_id: &AccountId,
    id: &str,
) -> QueryResult<Option<Invitation>> {
    invitation_rows!()
        .filter(invitations::account_id.eq(account_id))
        .filter(invitations::id.eq(id))
        .first(conn)
        .optional()
}

/// The account's open invitations (expired ones too, to send again), by address; at most
/// `limit`.
pub fn list_open(
    conn: &mut DbConn,
    account_id: &AccountId,
    limit: i64,
) -> QueryResult<Vec<Invitation>> {
    invitation_rows!()
        .filter(invitations::account_id.eq(account_id))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::cancelled_at.is_null())
        .order(invitations::email.asc())
        .limit(limit)
        .load(conn)
}

/// Marks it accepted; false if it was accepted, cancelled or expired meanwhile.
pub fn accept(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let accepted = diesel::update(
        invitations::table
            .find(id)
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::cancelled_at.is_null())
            .filter(invitations::expires_at.gt(now)),
    )
    .set(invitations::accepted_at.eq(now))
    .execute(conn)?;
    Ok(accepted == 1)
}

/// Cancels an open invitation of the account; false if there is none.
pub fn cancel(
    conn: &mut DbConn,
    account_id: &AccountId,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let cancelled = diesel::update(
        invitations::table
            .find(id)
            .filter(invitations::account_id.eq(account_id))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::cancelled_at.is_null()),
    )
    .set(invitations::cancelled_at.eq(now))
    .execute(conn)?;
    Ok(cancelled == 1)
}
