//! A cache of what the API check reads from the database, for the single-process SQLite
//! deployment (the server holds an exclusive lock on the data directory, so every change
//! to a token passes through this process).
//!
//! It never answers from stale state: expiry is evaluated on every request, and every
//! write to a token calls `invalidate` after its commit and before its response. A lookup
//! that read the database before such a write cannot re-insert what it read: insertion
//! only succeeds if no invalidation happened since the lookup began (the generation).

use super::verify::Snapshot;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Bounds memory: when full, the cache starts over.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct CheckCache {
    entries: RwLock<HashMap<String, Arc<Snapshot>>>,
    generation: AtomicU64,
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

    /// Forgets everything; call after committing any change to a token.
    pub fn invalidate(&self) {
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }
}
