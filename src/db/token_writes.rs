//! Transactions that may change what the checks cache: tokens (the API check), and on
//! PostgreSQL sessions and their users' role and access (the token pages' sign-in check,
//! `auth::guards::Claim`). Those writes, in `db::tokens`, `db::sessions` and `db::users`,
//! take a `TokenWrites` instead of a bare connection, and only `write` makes one: the cache
//! (the `TokenWatcher`) hears of every committed change, and no write can forget it.

use super::DbConn;
use std::ops::{Deref, DerefMut};

/// Hears of those transactions: the checks' cache.
pub trait TokenWatcher: Send + Sync {
    /// Inside a transaction that changed a token, as its last statement: on PostgreSQL the
    /// change is numbered and announced to every server process (`db::leases::announce`).
    /// Tests widen a race window here.
    fn before_commit(&self, conn: &mut DbConn) -> diesel::QueryResult<Option<i64>>;
    /// After a transaction that changed a token has committed (with the change's number,
    /// if it was announced): returns once no cache of any process answers from before it.
    fn committed(&self, conn: &mut DbConn, change: Option<i64>);
}

/// A transaction that may change what the checks cache.
pub struct TokenWrites<'a> {
    conn: &'a mut DbConn,
    changed: bool,
}

impl TokenWrites<'_> {
    /// The connection, for a statement that changes what a check reads.
    pub fn changing(&mut self) -> &mut DbConn {
        self.changed = true;
        self.conn
    }

    /// What a statement that may change what a check reads returned: how many rows it
    /// changed. None (a session already ended, say) announces nothing.
    pub fn changed_rows(&mut self, rows: usize) -> usize {
        self.changed |= rows > 0;
        rows
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

/// Tells the watcher of changes committed without it (the command line's bulk `seed`):
/// once this returns, no cache of any process answers from before them.
pub fn announce<W: TokenWatcher + ?Sized>(
    conn: &mut DbConn,
    watcher: &W,
) -> diesel::QueryResult<()> {
    write(conn, Some(watcher), |writes| {
        writes.changing();
        Ok(())
    })
}
