//! A cache of what the checks read from the database: the API check's tokens, and on
//! PostgreSQL who a session is (`auth::guards::Claim`, for the token pages).
//!
//! It never answers from stale state: expiry is evaluated on every request, and every
//! write to a token, and every end of a session or change to a user's role or access,
//! empties the cache after its commit and before its response (`db::token_writes::write`,
//! the only way to make those writes). A lookup that read the
//! database before such a write cannot re-insert what it read: insertion only succeeds if
//! no invalidation happened since the lookup began (the generation).
//!
//! On SQLite this is the one server process (the instance lock), so every change passes
//! through it. On PostgreSQL other processes change tokens too: the cache answers only
//! while this process holds its lease (`tokens::lease`), the writer numbers its change
//! and waits after its commit until every process with a live lease has emptied its cache
//! and acknowledged (docs/revocation.md).

use super::verify::Snapshot;
use crate::db::leases;
use crate::db::token_writes::TokenWatcher;
use crate::db::users::SessionUser;
use crate::db::DbConn;
use chrono::NaiveDateTime;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

type Hook = Arc<dyn Fn() + Send + Sync>;

/// Bounds memory: when full, the cache starts over.
const MAX_ENTRIES: usize = 100_000;
/// Sessions' claims held; when full, they start over.
const MAX_CLAIMS: usize = 10_000;

/// How long a lease lasts, by the database's clock, from its renewal.
pub const LEASE: Duration = Duration::from_secs(3);
/// A process counts its lease as ending this much before the database does: for clocks
/// that run at slightly different rates (docs/revocation.md).
pub const MARGIN: Duration = Duration::from_millis(500);
/// A writer gives up waiting for acknowledgements after this: by then every lease it
/// waited for has run out, unless the database's clock stopped (see docs/revocation.md).
const ACK_LIMIT: Duration = Duration::from_secs(5);

pub struct CheckCache {
    entries: RwLock<HashMap<String, Arc<Snapshot>>>,
    /// Who each session (by its key's hash) is, with its account as then read; `None` on
    /// SQLite, where that read is in-process and cheap, and where the command line can end
    /// sessions without any server hearing of it.
    claims: Option<RwLock<HashMap<Vec<u8>, Arc<SessionClaim>>>>,
    generation: AtomicU64,
    /// PostgreSQL: until when this process holds its lease; `None` on SQLite.
    lease: Option<LeaseClock>,
    /// Tests only: runs inside each token transaction just before it commits, to widen
    /// the window a check could race it in.
    before_commit: Mutex<Option<Hook>>,
}

/// A session's row as a page's check read it: its user, and when it ends.
#[derive(Debug, Clone)]
pub struct SessionClaim {
    pub expires_at: NaiveDateTime,
    pub user: SessionUser,
}

/// Until when the lease holds, on this process's monotonic clock.
struct LeaseClock {
    origin: Instant,
    /// Nanoseconds after `origin`; 0: no lease.
    until: AtomicU64,
}

impl CheckCache {
    /// SQLite: this is the one server process, and the cache always answers.
    pub fn single_process() -> Self {
        Self::new(None)
    }

    /// PostgreSQL: answers only while `tokens::lease` keeps this process's lease.
    pub fn leased() -> Self {
        Self::new(Some(LeaseClock {
            origin: Instant::now(),
            until: AtomicU64::new(0),
        }))
    }

    fn new(lease: Option<LeaseClock>) -> Self {
        Self {
            entries: RwLock::default(),
            claims: lease.as_ref().map(|_| RwLock::default()),
            generation: AtomicU64::new(0),
            lease,
            before_commit: Mutex::new(None),
        }
    }

    /// Whether the cache may answer now: always on SQLite; on PostgreSQL while the lease
    /// holds.
    pub fn serving(&self) -> bool {
        self.lease.as_ref().is_none_or(|lease| {
            let now = lease.origin.elapsed().as_nanos() as u64;
            now < lease.until.load(Ordering::Acquire)
        })
    }

    pub fn get(&self, username: &str) -> Option<Arc<Snapshot>> {
        if !self.serving() {
            return None;
        }
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
        // Checked under the write lock that `forget_all` also takes.
        if self.generation.load(Ordering::Acquire) != generation || !self.serving() {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(username.to_string(), snapshot);
    }

    /// The session's claim, if held and not yet past its end (a later end, moved on by
    /// activity, is read again: the cache never refuses).
    pub fn claim(&self, key_hash: &[u8], now: NaiveDateTime) -> Option<Arc<SessionClaim>> {
        let claims = self.claims.as_ref()?;
        if !self.serving() {
            return None;
        }
        let claim = claims.read().ok()?.get(key_hash).cloned()?;
        (claim.expires_at > now).then_some(claim)
    }

    /// Holds a claim read from the database since `generation` (read before the lookup).
    pub fn insert_claim(&self, key_hash: &[u8], claim: SessionClaim, generation: u64) {
        let Some(Ok(mut claims)) = self.claims.as_ref().map(|c| c.write()) else {
            return;
        };
        // Checked under the write lock that `forget_all` also takes.
        if self.generation.load(Ordering::Acquire) != generation || !self.serving() {
            return;
        }
        if claims.len() >= MAX_CLAIMS {
            claims.clear();
        }
        claims.insert(key_hash.to_vec(), Arc::new(claim));
    }

    /// Empties the cache; a lookup that began before cannot insert what it read.
    pub fn forget_all(&self) {
        // A poisoned lock is cleared all the same: forgetting must never be skipped.
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let mut claims =
            (self.claims.as_ref()).map(|c| c.write().unwrap_or_else(|e| e.into_inner()));
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
        if let Some(claims) = claims.as_mut() {
            claims.clear();
        }
    }

    /// The lease holds until `until` (a lease without a clock, SQLite's, always holds).
    pub(super) fn hold_until(&self, until: Instant) {
        if let Some(lease) = &self.lease {
            let nanos = until.saturating_duration_since(lease.origin).as_nanos() as u64;
            lease.until.store(nanos.max(1), Ordering::Release);
        }
    }

    /// The lease is gone: the cache stops answering.
    pub(super) fn lapse(&self) {
        if let Some(lease) = &self.lease {
            lease.until.store(0, Ordering::Release);
        }
    }

    /// Tests only: `hook` runs inside every token transaction just before it commits.
    pub fn pause_before_commit(&self, hook: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut slot) = self.before_commit.lock() {
            *slot = Some(Arc::new(hook));
        }
    }
}

impl TokenWatcher for CheckCache {
    fn before_commit(&self, conn: &mut DbConn) -> diesel::QueryResult<Option<i64>> {
        let hook = self.before_commit.lock().ok().and_then(|slot| slot.clone());
        if let Some(hook) = hook {
            hook();
        }
        match self.lease {
            Some(_) => leases::announce(conn).map(Some),
            None => Ok(None),
        }
    }

    /// Forgets everything: only once a change to a token has committed (`db::token_writes`);
    /// on PostgreSQL, then waits for every other process to have done the same.
    fn committed(&self, conn: &mut DbConn, change: Option<i64>) {
        self.forget_all();
        let Some(change) = change else { return };
        match leases::wait_for_acks(conn, change, ACK_LIMIT) {
            Ok(true) => {}
            Ok(false) => tracing::error!(
                change,
                "a server process kept its lease without acknowledging a token change"
            ),
            Err(error) => {
                // The database went away after the commit: no process can renew its lease
                // either, so each stops answering from its cache within one lease.
                tracing::error!(
                    change,
                    %error,
                    "could not wait for the other processes to acknowledge a token change; \
                     waiting out their leases"
                );
                std::thread::sleep(LEASE + MARGIN);
            }
        }
    }
}
