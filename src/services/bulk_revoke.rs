//! Revoking many tokens at once, for incidents ("revoke everything created by X"): each one
//! revoked and audited as a single revocation is, effective at once. No password is asked:
//! revoking only takes access away, and must stay fast in an emergency.

use super::actor::Actor;
use super::tokens::TokenService;
use crate::db::tokens::{self, ActiveFilter};
use crate::db::{self, accounts};
use crate::domain::TokenId;
use crate::error::AppError;

/// Tokens revoked per transaction: each commit empties the check caches, and a long
/// transaction would hold SQLite's write lock from the API's use recorder.
const PER_TRANSACTION: usize = 500;

impl TokenService {
    /// Revokes these tokens of the actor's account with one reason (empty: none); how many
    /// were active and now are revoked. Ids of other accounts' tokens, and tokens already
    /// ended, are passed over.
    pub async fn revoke_many(
        &self,
        actor: Actor,
        ids: Vec<TokenId>,
        reason: String,
    ) -> Result<usize, AppError> {
        let mut revoked = 0;
        for chunk in ids.chunks(PER_TRANSACTION) {
            let (actor, chunk, reason) = (actor.clone(), chunk.to_vec(), reason.clone());
            let now = self.ctx.clock.now();
            revoked += self
                .ctx
                .write(move |conn| {
                    let version = accounts::lock(conn, &actor.account_id)?;
                    let reason = (!reason.is_empty()).then_some(reason.as_str());
                    let detail = reason.map(|r| format!("reason: {r}")).unwrap_or_default();
                    let mut revoked = 0;
                    for id in &chunk {
                        if tokens::find(conn, &actor.account_id, id)?.is_none() {
                            continue;
                        }
                        if tokens::revoke(conn, id, Some(&actor.user_id), reason, now, version)? {
                            actor.record(conn, "token.revoke", Some(id), &detail, now)?;
                            revoked += 1;
                        }
                    }
                    Ok(revoked)
                })
                .await?;
        }
        tracing::info!(account_id = %actor.account_id, revoked, "tokens revoked in bulk");
        Ok(revoked)
    }

    /// The ids of the account's active tokens matching API Tokens' filter.
    pub async fn matching(
        &self,
        actor: &Actor,
        filter: ActiveFilter,
    ) -> Result<Vec<TokenId>, AppError> {
        let account_id = actor.account_id.clone();
        let now = self.ctx.clock.now();
        db::run(&self.ctx.pool, move |conn| {
            Ok(tokens::active_ids(conn, &account_id, now, &filter)?)
        })
        .await
    }
}
