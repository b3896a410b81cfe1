//! The token check as handlers call it: the database's answer, or the cache's on the
//! single-process SQLite deployment. The handler does not know which.

use super::basic::BasicCredentials;
use super::check_cache::CheckCache;
use super::secret::TokenCrypto;
use super::verify::{self, Snapshot};
use crate::db::{self, DbError, DbPool};
use chrono::NaiveDateTime;
use std::sync::Arc;

pub struct TokenChecker {
    pool: DbPool,
    crypto: Arc<TokenCrypto>,
    /// SQLite only, where this is the one server process: every token write passes
    /// through it and empties the cache once committed (`db::token_writes`).
    cache: Option<Arc<CheckCache>>,
}

impl TokenChecker {
    pub fn new(pool: DbPool, crypto: Arc<TokenCrypto>, cache: Option<Arc<CheckCache>>) -> Self {
        Self {
            pool,
            crypto,
            cache,
        }
    }

    /// The token for these credentials if they are the right password of an active token
    /// (see `verify::check`).
    pub async fn check(
        &self,
        credentials: BasicCredentials,
        now: NaiveDateTime,
    ) -> Result<Option<Arc<Snapshot>>, DbError> {
        match &self.cache {
            // SQLite: from the cache, or a quick local read right here on the worker (WAL
            // readers never wait for the writer).
            Some(cache) => self.check_cached(cache, &credentials, now),
            // PostgreSQL, several processes: the database on every request.
            None => {
                let crypto = self.crypto.clone();
                db::run(&self.pool, move |conn| {
                    Ok(verify::check(conn, &crypto, &credentials, now)?)
                })
                .await
            }
        }
    }

    fn check_cached(
        &self,
        cache: &CheckCache,
        credentials: &BasicCredentials,
        now: NaiveDateTime,
    ) -> Result<Option<Arc<Snapshot>>, DbError> {
        let username = credentials.username();
        let snapshot = match cache.get(username) {
            Some(snapshot) => Some(snapshot),
            None => {
                let generation = cache.generation();
                let snapshot = verify::load(&mut *db::get_inline(&self.pool)?, username)?;
                if let Some(snapshot) = &snapshot {
                    cache.insert(username, snapshot.clone(), generation);
                }
                snapshot
            }
        };
        Ok(verify::accept(&self.crypto, credentials, snapshot, now))
    }
}
