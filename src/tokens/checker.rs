//! The token check as handlers call it: from the cache when it may answer, otherwise the
//! database's answer. The handler does not know which.

use super::basic::BasicCredentials;
use super::check_cache::CheckCache;
use super::secret::TokenCrypto;
use super::verify::{self, Checked, Snapshot};
use crate::config::DatabaseUrl;
use crate::db::{self, DbError, DbPool};
use chrono::NaiveDateTime;
use std::sync::Arc;

pub struct TokenChecker {
    pool: DbPool,
    crypto: Arc<TokenCrypto>,
    /// SQLite: a miss is read right here on the async worker (WAL readers never wait for
    /// the writer); PostgreSQL, a network round trip, reads on the blocking threads.
    inline_reads: bool,
    /// Every token write empties it once committed, in every process (`db::token_writes`);
    /// on PostgreSQL it answers only while this process holds its lease.
    cache: Arc<CheckCache>,
}

impl TokenChecker {
    pub fn new(
        pool: DbPool,
        url: &DatabaseUrl,
        crypto: Arc<TokenCrypto>,
        cache: Arc<CheckCache>,
    ) -> Self {
        Self {
            pool,
            crypto,
            inline_reads: matches!(url, DatabaseUrl::Sqlite(_)),
            cache,
        }
    }

    /// What these credentials are (see `verify::accept`).
    pub async fn check(
        &self,
        credentials: BasicCredentials,
        now: NaiveDateTime,
    ) -> Result<Checked, DbError> {
        let username = credentials.username();
        if let Some(snapshot) = self.cache.get(username) {
            return Ok(verify::accept(
                &self.crypto,
                &credentials,
                Some(snapshot),
                now,
            ));
        }
        // Read before the lookup: a change committed meanwhile keeps it out of the cache.
        let generation = self.cache.generation();
        let snapshot = if self.inline_reads {
            verify::load(&mut *db::get_inline(&self.pool)?, username)?
        } else {
            let username = username.to_string();
            db::run(&self.pool, move |conn| {
                Ok::<_, DbError>(verify::load(conn, &username)?)
            })
            .await?
        };
        if let Some(snapshot) = &snapshot {
            self.cache.insert(username, snapshot.clone(), generation);
        }
        Ok(verify::accept(&self.crypto, &credentials, snapshot, now))
    }

    /// The token with this username if the cache holds it: a throttled call is counted
    /// against its token only then, as finding out would cost a database read.
    pub fn cached(&self, username: &str) -> Option<Arc<Snapshot>> {
        self.cache.get(username)
    }
}
