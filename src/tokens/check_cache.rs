//! A cache of what the API check reads from the database, for the single-process SQLite
//! deployment (the server holds an exclusive lock on the data directory, so every change
//! to a token passes through this process).
//!
//! It never answers from stale state: expiry is evaluated on every request, and every
//! write to a token empties the cache after its commit and before its response
//! (`db::token_writes::write`, the only way to change a token). A lookup that read the database before such a write
//! cannot re-insert what it read: insertion only succeeds if no invalidation happened
//! since the lookup began (the generation).

use super::verify::Snapshot;
use crate::db::token_writes::TokenWatcher;
use std::collections::HashMap;
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
}

impl TokenWatcher for CheckCache {
    fn before_commit(&self) {
        let hook = self.before_commit.lock().ok().and_then(|slot| slot.clone());
        if let Some(hook) = hook {
            hook();
        }
    }

    /// Forgets everything: only once a change to a token has committed (`db::token_writes`).
    fn committed(&self) {
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }
}
