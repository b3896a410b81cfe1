//! Who makes a change, and from where: what its audit entry records.

use crate::db::{audit, DbConn};
use crate::domain::{AccountId, TokenId, UserId};
use chrono::NaiveDateTime;

/// A signed-in user acting on their own account.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: UserId,
    pub email: String,
    pub account_id: AccountId,
    pub account_name: String,
    /// The client's address, when known.
    pub ip: Option<String>,
}

impl Actor {
    /// Records what the actor did, in the caller's transaction.
    pub fn record(
        &self,
        conn: &mut DbConn,
        action: &str,
        token_id: Option<&TokenId>,
        detail: &str,
        now: NaiveDateTime,
    ) -> diesel::QueryResult<()> {
        audit::insert(
            conn,
            &audit::NewEvent {
                account_id: Some(&self.account_id),
                actor_id: Some(&self.user_id),
                actor_email: Some(&self.email),
                action,
                token_id,
                detail,
                ip: self.ip.as_deref(),
            },
            now,
        )
    }
}
