//! Transactions that may change tokens. The token writes of `db::tokens` take a
//! `TokenWrites` instead of a bare connection, and only `write` makes one: a cache of what
//! the API check reads (the `TokenWatcher`) hears of every committed change, and no write
//! can forget it.

use super::DbConn;
use std::ops::{Deref, DerefMut};

/// Hears of token transactions: the API check's cache.
pub trait TokenWatcher: Send + Sync {
    /// Inside a transaction that changed a token, as its last statement: on PostgreSQL the
    /// change is numbered and announced to every server process (`db::leases::announce`).
    /// Tests widen a race window here.
    fn before_commit(&self, conn: &mut DbConn) -> diesel::QueryResult<Option<i64>>;
    /// After a transaction that changed a token has committed (with the change's number,
    /// if it was announced): returns once no cache of any process answers from before it.
    fn committed(&self, conn: &mut DbConn, change: Option<i64>);
}

/// A transaction that may change tokens.
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
/// it has committed, and only if a token changed, tells the watcher (the check cache),
/// which returns once every process's cache has let go of what changed.
/// Never before the commit: a check landing between the two would read the row as it was
/// and cache it under the new generation, and a revoked token would be accepted until some
/// other token changed.
pub fn write<T, E, W>(
    conn: &mut DbConn,
    watcher: Option<&W>,
    work: impl FnOnce(&mut TokenWrites<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
    W: TokenWatcher + ?Sized,
{
    let mut changed = false;
    let mut change = None;
    let done = super::transaction::<_, E>(conn, |conn| {
        let mut writes = TokenWrites {
            conn,
            changed: false,
        };
        let done = work(&mut writes)?;
        changed = writes.changed;
        if let Some(watcher) = watcher.filter(|_| changed) {
            change = watcher.before_commit(conn)?;
        }
        Ok(done)
    })?;
    if let (true, Some(watcher)) = (changed, watcher) {
        watcher.committed(conn, change);
    }
    Ok(done)
}
