//! The check behind every API call: is this username + password a valid, active token,
//! and may it be used from this address?

use super::basic::BasicCredentials;
use super::networks;
use super::secret::TokenCrypto;
use crate::db::tokens::{self, CheckRow};
use crate::db::DbConn;
use chrono::NaiveDateTime;
use ipnetwork::IpNetwork;
use std::net::IpAddr;

/// A token that passed the credential check.
#[derive(Debug, Clone)]
pub struct Identity {
    pub token_id: String,
    pub token_name: String,
    pub username: String,
    pub expires_at: NaiveDateTime,
    pub account_id: String,
    pub account_name: String,
    pub last_used_at: Option<NaiveDateTime>,
    networks: Vec<IpNetwork>,
}

impl Identity {
    /// Whether the token may be used from `address` (none known: only if any address may).
    pub fn allows(&self, address: Option<IpAddr>) -> bool {
        match address {
            Some(address) => networks::allows(&self.networks, address),
            None => self.networks.is_empty(),
        }
    }
}

/// The same HMAC work is done for an unknown username as for a wrong password.
const ABSENT: [u8; 32] = [0; 32];

/// `Some` only for the right password of an active token; every other case is `None`,
/// so callers give one answer for all of them.
pub fn check(
    conn: &mut DbConn,
    crypto: &TokenCrypto,
    credentials: &BasicCredentials,
    now: NaiveDateTime,
) -> diesel::QueryResult<Option<Identity>> {
    let rows = tokens::find_for_check(conn, credentials.username())?;
    let Some(first) = rows.first() else {
        crypto.verify(credentials.password(), &ABSENT);
        return Ok(None);
    };
    if !crypto.verify(credentials.password(), &first.secret_hmac)
        || !tokens::is_active(first.expires_at, first.revoked_at, now)
    {
        return Ok(None);
    }
    Ok(identity(credentials.username(), rows))
}

fn identity(username: &str, rows: Vec<CheckRow>) -> Option<Identity> {
    let mut networks = Vec::new();
    for network in rows.iter().filter_map(|r| r.network.as_deref()) {
        match networks::parse_network(network) {
            Ok(parsed) => networks.push(parsed),
            Err(_) => {
                // Fail closed: dropping a rule would widen what the token allows.
                tracing::error!(token_id = %rows[0].id, "unreadable allowed network in the database");
                return None;
            }
        }
    }
    let first = rows.into_iter().next()?;
    Some(Identity {
        token_id: first.id,
        token_name: first.name,
        username: username.to_string(),
        expires_at: first.expires_at,
        account_id: first.account_id,
        account_name: first.account_name,
        last_used_at: first.last_used_at,
        networks,
    })
}
