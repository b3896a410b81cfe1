//! The check behind every API call: is this username + password a valid, active token,
//! and may it be used from this address?

use super::basic::BasicCredentials;
use super::secret::TokenCrypto;
use super::usage::Outcome;
use crate::db::tokens::{self, CheckRow};
use crate::db::DbConn;
use crate::domain::{AccountId, AllowedNetworks, TokenId, TokenStatus};
use chrono::NaiveDateTime;
use std::net::IpAddr;
use std::sync::Arc;

/// What the check needs to know about a token, as read from the database.
#[derive(Debug)]
pub struct Snapshot {
    pub token_id: TokenId,
    pub token_name: String,
    pub username: String,
    pub expires_at: NaiveDateTime,
    /// `expires_at` in RFC 3339, formatted once.
    pub expires_at_rfc3339: String,
    pub revoked_at: Option<NaiveDateTime>,
    pub account_id: AccountId,
    pub account_name: String,
    pub last_used_at: Option<NaiveDateTime>,
    secret_hmac: Vec<u8>,
    networks: AllowedNetworks,
}

impl Snapshot {
    /// Whether the token may be used from `address` (none known: only if any address may).
    pub fn allows(&self, address: Option<IpAddr>) -> bool {
        self.networks.allows(address)
    }
}

/// The same HMAC work is done for an unknown username as for a wrong password.
const ABSENT: [u8; 32] = [0; 32];

/// What the check found for a username + password.
pub enum Checked {
    /// The right password of an active token.
    Accepted(Arc<Snapshot>),
    /// A known token, refused: a wrong password, or the right one of a token that ended.
    Refused(Arc<Snapshot>, Outcome),
    /// No token has this username.
    Unknown,
}

/// Checks the password, then the token's lifetime. Callers give one answer to every case
/// but `Accepted`; the others only tell the usage counts why.
pub(super) fn accept(
    crypto: &TokenCrypto,
    credentials: &BasicCredentials,
    snapshot: Option<Arc<Snapshot>>,
    now: NaiveDateTime,
) -> Checked {
    let Some(snapshot) = snapshot else {
        crypto.verify(credentials.password(), &ABSENT);
        return Checked::Unknown;
    };
    if !crypto.verify(credentials.password(), &snapshot.secret_hmac) {
        return Checked::Refused(snapshot, Outcome::WrongPassword);
    }
    match TokenStatus::of(snapshot.expires_at, snapshot.revoked_at, now) {
        TokenStatus::Active => Checked::Accepted(snapshot),
        TokenStatus::Expired => Checked::Refused(snapshot, Outcome::Expired),
        TokenStatus::Revoked => Checked::Refused(snapshot, Outcome::Revoked),
    }
}

pub(super) fn load(
    conn: &mut DbConn,
    username: &str,
) -> diesel::QueryResult<Option<Arc<Snapshot>>> {
    let rows = tokens::find_for_check(conn, username)?;
    Ok(snapshot(username, rows).map(Arc::new))
}

fn snapshot(username: &str, rows: Vec<CheckRow>) -> Option<Snapshot> {
    let stored = rows.iter().filter_map(|r| r.network.as_deref());
    let Ok(networks) = AllowedNetworks::from_stored(stored) else {
        // Fail closed: dropping a rule would widen what the token allows.
        tracing::error!(token_id = %rows[0].id, "unreadable allowed network in the database");
        return None;
    };
    let first = rows.into_iter().next()?;
    Some(Snapshot {
        expires_at_rfc3339: first
            .expires_at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        token_id: first.id,
        token_name: first.name,
        username: username.to_string(),
        expires_at: first.expires_at,
        revoked_at: first.revoked_at,
        account_id: first.account_id,
        account_name: first.account_name,
        last_used_at: first.last_used_at,
        secret_hmac: first.secret_hmac,
        networks,
    })
}
