//! The product's rules for changing things. Each operation takes one owned command value
//! and does, in one transaction, the account lock, the rules, the audit entry and the
//! notice; writes to tokens, sessions and users' access also empty the checks' cache as
//! part of committing (`Context::write`). Handlers parse a request, call one operation, and
//! render.

pub mod actor;
pub mod bulk_revoke;
pub mod handoffs;
pub mod leaks;
pub mod passwords;
pub mod people;
pub mod policy;
pub mod sessions;
pub mod tokens;

use crate::clock::SharedClock;
use crate::db::token_writes::{self, TokenWrites};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::notify::scheduler::Notifier;
use crate::tokens::check_cache::CheckCache;
use crate::tokens::secret::TokenCrypto;
use std::sync::Arc;
use url::Url;

/// What every service needs: the database, the clock, the token keys, the checks' cache,
/// the scheduler (to wake it, or to send through it at once), and the base URL for links
/// in e-mails.
#[derive(Clone)]
pub struct Context {
    pub pool: DbPool,
    pub clock: SharedClock,
    pub crypto: Arc<TokenCrypto>,
    /// What the API check and the token pages' sign-in check hold (`tokens::check_cache`).
    pub check_cache: Arc<CheckCache>,
    pub notifier: Arc<Notifier>,
    pub base_url: Url,
}

impl Context {
    /// A transaction that may change what the checks cache (a token, a session, a user's
    /// role or access): committed with that cache emptied in every process before this
    /// returns (`db::token_writes`).
    pub async fn write<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut TokenWrites<'_>) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let cache = self.check_cache.clone();
        db::run(&self.pool, move |conn| {
            token_writes::write(conn, Some(&*cache), work)
        })
        .await
    }
}
