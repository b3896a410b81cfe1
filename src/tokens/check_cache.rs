//! A cache of what the API check reads from the database, for the single-process SQLite
//! deployment (the server holds an exclusive lock on the data directory, so every change
//! to a token passes through this process).
//!
//! It never answers from stale state: expiry is evaluated on every request, and every
//! write to a token empties the cache after its commit and before its response (`write`,
//! the only way to change a token). A lookup that read the database before such a write
//! cannot re-insert what it read: insertion only succeeds if no invalidation happened
//! since the lookup began (the generation).

use super::verify::Snapshot;
use crate::db::{self, DbConn};
use crate::error::AppError;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

type Hook = Arc<dyn Fn() + Send + Sync>;

/// Bounds memory: when full, the cache starts over.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct CheckCache {
    entries: RwLock<HashMap<String, Arc<Snapshot>>>,
    generation: AtomicU64,
    /// Tests only: runs inside each token transaction just before it commits, to widen
    /// the window a check could race it in.
    before_commit: Mutex<Option<Hook>>,
}

impl CheckCache {
    pub fn get(&self, username: &str) -> Option<Arc<Snapshot>> {
        self.entries.read().ok()?.get(username).cloned()
    }

    /// Read before the database lookup; pass to `insert`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn insert(&self, username: &str, snapshot: Arc<Snapshot>, generation: u64) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        // Checked under the write lock that `invalidate` also takes.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(username.to_string(), snapshot);
    }

    /// Tests only: `hook` runs inside every token transaction just before it commits.
    pub fn pause_before_commit(&self, hook: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut slot) = self.before_commit.lock() {
            *slot = Some(Arc::new(hook));
        }
    }

    /// Forgets everything: only once a change to a token has committed (`write`).
    fn invalidate(&self) {
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }
}

/// A transaction that may change tokens. The token writes of `db::tokens` take one instead
/// of a bare connection, and only `write` makes one: no write can forget the cache.
pub struct TokenWrites<'a> {
    conn: &'a mut DbConn,
    changed: bool,
}

impl TokenWrites<'_> {
    /// The connection, for a statement that changes a token the check reads.
    pub fn changing(&mut self) -> &mut DbConn {
        self.changed = true;
        self.conn
    }
}

/// Reads (and writes that the check does not answer from) need no mark.
impl Deref for TokenWrites<'_> {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        self.conn
    }
}

impl DerefMut for TokenWrites<'_> {
    fn deref_mut(&mut self) -> &mut DbConn {
        self.conn
    }
}

/// Runs `work` in a write transaction (the outermost one) that may change tokens; once
/// it has committed, and only if a token changed, empties the check cache. Never before
/// the commit: a check landing between the two would read the row as it was and cache it
/// under the new generation, and a revoked token would be accepted until some other token
/// changed.
pub fn write<T>(
    conn: &mut DbConn,
    cache: Option<&CheckCache>,
    work: impl FnOnce(&mut TokenWrites<'_>) -> Result<T, AppError>,
) -> Result<T, AppError> {
    let mut changed = false;
    let done = db::transaction(conn, |conn| {
        let mut writes = TokenWrites {
            conn,
            changed: false,
        };
        let done = work(&mut writes)?;
        changed = writes.changed;
        let hook = cache.and_then(|c| c.before_commit.lock().ok()?.clone());
        if let Some(hook) = hook.filter(|_| changed) {
            hook();
        }
        Ok(done)
    })?;
    if let (true, Some(cache)) = (changed, cache) {
        cache.invalidate();
    }
    Ok(done)
}
