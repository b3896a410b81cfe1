//! The account's token policy: the longest lifetime Add Token and Renew accept.

use super::actor::Actor;
use super::people::PeopleService;
use crate::db::{self, accounts};
use crate::error::AppError;

pub const MAX_LIFETIME_DAYS: std::ops::RangeInclusive<i32> = 1..=365;

impl PeopleService {
    /// Sets the account's longest token lifetime (within `MAX_LIFETIME_DAYS`), audited;
    /// tokens already issued keep their expiry.
    pub async fn set_max_lifetime(&self, actor: Actor, days: i32) -> Result<(), AppError> {
        if !MAX_LIFETIME_DAYS.contains(&days) {
            return Err(AppError::BadRequest(format!(
                "The longest lifetime is from {} to {} days.",
                MAX_LIFETIME_DAYS.start(),
                MAX_LIFETIME_DAYS.end()
            )));
        }
        let now = self.ctx.clock.now();
        db::run(&self.ctx.pool, move |conn| {
            db::transaction(conn, |conn| {
                let before = accounts::set_max_lifetime_days(conn, &actor.account_id, days)?;
                if before != i64::from(days) {
                    let detail = format!("longest token lifetime: {before} \u{2192} {days} days");
                    actor.record(conn, "account.policy_changed", None, &detail, now)?;
                }
                Ok(())
            })
        })
        .await
    }
}
