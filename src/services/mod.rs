//! The product's rules for changing things. Each operation takes one owned command value
//! and does, in one transaction, the account lock, the rules, the audit entry and the
//! notice; token writes also empty the API check's cache as part of committing
//! (`db::token_writes`). Handlers parse a request, call one operation, and render.

pub mod actor;
pub mod handoffs;
pub mod passwords;
pub mod people;
pub mod sessions;
pub mod tokens;

use crate::clock::SharedClock;
use crate::db::DbPool;
use crate::notify::scheduler::Notifier;
use crate::tokens::secret::TokenCrypto;
use std::sync::Arc;
use url::Url;

/// What every service needs: the database, the clock, the token keys, the scheduler (to
/// wake it, or to send through it at once), and the base URL for links in e-mails.
#[derive(Clone)]
pub struct Context {
    pub pool: DbPool,
    pub clock: SharedClock,
    pub crypto: Arc<TokenCrypto>,
    pub notifier: Arc<Notifier>,
    pub base_url: Url,
}
