//! Database access: one diesel code path for SQLite and PostgreSQL.
//!
//! The backend is picked from the URL scheme by our own r2d2 manager (diesel's
//! `establish` on a multi-connection would try each backend in turn and hide errors).

pub mod accounts;
pub mod audit;
pub mod bulk;
pub mod handoffs;
pub mod instance_lock;
pub mod invitations;
pub mod leases;
pub mod outbox;
pub mod schema;
pub mod sessions;
pub mod token_writes;
pub mod tokens;
pub mod usage;
pub mod usage_totals;
pub mod user_links;
pub mod users;
pub mod uses;
pub mod weekly_reports;

use crate::config::DatabaseUrl;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(diesel::SqliteConnection),
    Pg(diesel::PgConnection),
}

pub type DbPool = r2d2::Pool<ConnectionManager>;
pub type PooledConn = r2d2::PooledConnection<ConnectionManager>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConn, ConnectionError> {
        let _opening = OPENING.enter()?;
        establish(&self.url)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectionError> {
        conn.batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    /// A connection marked `Closed` goes; the pool opens a new one in its place.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.instrumentation().is::<Closed>()
    }
}

/// Marks a connection that failed as unavailable (PostgreSQL closed it: a restart, a
/// failover; SQLite stayed locked), so the pool drops it rather than hand it out again.
/// Checking every connection as it is handed out would cost a round trip per use.
struct Closed;

impl diesel::connection::Instrumentation for Closed {
    fn on_connection_event(&mut self, _: diesel::connection::InstrumentationEvent<'_>) {}
}

/// Opens one connection, configured as every connection of ours is.
fn establish(url: &DatabaseUrl) -> Result<DbConn, ConnectionError> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())?;
            // WAL lets readers run beside the writer; the busy timeout queues writers
            // instead of failing them; foreign keys are off by default in SQLite.
            conn.batch_execute(
                "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
            )
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
            // Fresh statistics for the planner, as SQLite recommends when a connection
            // opens; the pool replaces its connections every 30 minutes, so this also
            // serves as the periodic run for long-lived connections.
            conn.batch_execute(SQLITE_OPTIMIZE)
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConn::Sqlite(conn))
        }
        DatabaseUrl::Postgres(url) => Ok(DbConn::Pg(diesel::PgConnection::establish(url)?)),
    }
}

/// Connections being opened anywhere in the process, and whether it is exiting.
///
/// A process that exits while a pool thread is inside libpq's `PQconnectdb` crashes:
/// `exit()` runs OpenSSL's cleanup under the TLS handshake (SIGSEGV in 6 % of command-line
/// runs on PostgreSQL). `close_connections` lets the openings in progress finish, and
/// refuses new ones, so `main` returns only once no thread is opening a connection.
static OPENING: Opening = Opening {
    state: std::sync::Mutex::new((false, 0)),
    done: std::sync::Condvar::new(),
};

struct Opening {
    /// (closed, openings in progress)
    state: std::sync::Mutex<(bool, usize)>,
    done: std::sync::Condvar,
}

struct OpeningGuard;

impl Opening {
    fn enter(&'static self) -> Result<OpeningGuard, ConnectionError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 {
            return Err(ConnectionError::BadConnection(
                "the process is exiting: no new database connections".into(),
            ));
        }
        state.1 += 1;
        Ok(OpeningGuard)
    }
}

impl Drop for OpeningGuard {
    fn drop(&mut self) {
        let mut state = OPENING.state.lock().unwrap_or_else(|e| e.into_inner());
        state.1 -= 1;
        OPENING.done.notify_all();
    }
}

/// Refuses new connections and waits until none is being opened (call before the process
/// exits; see `OPENING`).
pub fn close_connections() {
    let mut state = OPENING.state.lock().unwrap_or_else(|e| e.into_inner());
    state.0 = true;
    while state.1 > 0 {
        state = OPENING.done.wait(state).unwrap_or_else(|e| e.into_inner());
    }
}

/// One connection, no pool, migrations applied: for a command that needs only one (a
/// pool keeps opening connections on threads of its own).
pub fn open(url: &DatabaseUrl) -> anyhow::Result<DbConn> {
    let _opening = OPENING.enter()?;
    let mut conn = establish(url)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// What a database task fails with, beside its own work's errors. The web knows nothing
/// of it: the application's error converts from it (`TaskError`).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had, or it closed under us (a restart, a failover), or
    /// SQLite stayed locked past its busy timeout: worth trying again shortly.
    #[error("the database is unavailable")]
    Unavailable,
    #[error("a database task was cancelled")]
    Cancelled,
    #[error("database")]
    Query(#[source] diesel::result::Error),
}

impl From<diesel::result::Error> for DbError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => DbError::Unavailable,
            Error::DatabaseError(_, info) if info.message().contains("database is locked") => {
                DbError::Unavailable
            }
            other => DbError::Query(other),
        }
    }
}

/// The error a task's work may fail with: one a `DbError` converts into, which can tell
/// whether the connection is gone (so the pool drops it).
pub trait TaskError: From<DbError> + From<diesel::result::Error> {
    fn is_unavailable(&self) -> bool;
}

impl TaskError for DbError {
    fn is_unavailable(&self) -> bool {
        matches!(self, DbError::Unavailable)
    }
}

/// Runs `work` on a connection of the pool; one that failed as unavailable is dropped.
pub fn with_conn<T, E: TaskError>(
    pool: &DbPool,
    work: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E> {
    let mut conn = get_inline(pool)?;
    let done = work(&mut conn);
    if done.as_ref().is_err_and(E::is_unavailable) {
        conn.set_instrumentation(Closed);
    }
    done
}

/// Opens the pool (creating the SQLite file if needed) and applies pending migrations.
pub fn connect(url: &DatabaseUrl) -> anyhow::Result<DbPool> {
    if let DatabaseUrl::Sqlite(path) = url {
        // Switch a new file to WAL once, alone: the switch does not wait for the busy
        // timeout, so the pool's connections opening in parallel would each fail it.
        let mut first = diesel::SqliteConnection::establish(&path.to_string_lossy())?;
        first.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;")?;
    }
    // A PostgreSQL connection can die under us (a restart, a failover): the first use
    // fails, and the pool replaces it (`with_conn`). A connection is not tested as it is
    // handed out: that cost a round trip on every use, a sixth of a page's database time.
    // PostgreSQL: a small pool (twice the cores) keeps the database's processes from
    // crowding the cores under load. On 2 cores, 16 gave p99 spikes of 100 ms to 1 s; 8, 6
    // and 4 served a token list page at 3,900, 4,400 and 5,000 requests/s, with p99 of 12,
    // 10 and 7 ms (bench/RESULTS.md).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
    let max_size = match url {
        DatabaseUrl::Sqlite(_) => 8,
        DatabaseUrl::Postgres(_) => cores * 2,
    };
    let pool = r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(2))
        .connection_timeout(Duration::from_secs(2))
        .test_on_check_out(false)
        .build(ConnectionManager { url: url.clone() })
        .map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
    migrate(&mut *pool.get()?)?;
    Ok(pool)
}

pub fn migrate(conn: &mut DbConn) -> anyhow::Result<()> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        DbConn::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    for version in applied {
        tracing::info!(%version, "applied migration");
    }
    Ok(())
}

/// Gives the query planner fresh statistics after a bulk change (`sesame seed`): SQLite's
/// `PRAGMA optimize` as its documentation recommends (with a bounded analysis, so it takes
/// a moment even at a million rows), PostgreSQL's `ANALYZE`.
pub fn optimize(conn: &mut DbConn) -> QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => c.batch_execute(SQLITE_OPTIMIZE),
        DbConn::Pg(c) => c.batch_execute("ANALYZE"),
    }
}

/// Whether the database answers a query (`/healthz`).
pub fn ping(conn: &mut DbConn) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
}

/// Copies a SQLite database to `path`, a new file, while servers keep running: VACUUM INTO
/// reads one consistent snapshot. PostgreSQL has its own tools (pg_dump).
pub fn backup(url: &DatabaseUrl, path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    anyhow::ensure!(
        matches!(url, DatabaseUrl::Sqlite(_)),
        "sesame backup copies SQLite databases; for PostgreSQL use pg_dump"
    );
    anyhow::ensure!(
        !path.exists(),
        "{} already exists; choose a new file",
        path.display()
    );
    let mut conn = open(url)?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<diesel::sql_types::Text, _>(path.to_string_lossy().into_owned())
        .execute(&mut conn)
        .with_context(|| format!("cannot write the backup to {}", path.display()))?;
    Ok(())
}

/// `analysis_limit` bounds the rows ANALYZE reads per index; 0x10002 looks at every table,
/// not just those this connection has used.
const SQLITE_OPTIMIZE: &str = "PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002;";

/// Runs blocking database work off the async workers (diesel is synchronous), on the
/// runtime's blocking threads.
pub async fn run<T, E, F>(pool: &DbPool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    E: TaskError + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || with_conn(&pool, work))
        .await
        .map_err(|_| E::from(DbError::Cancelled))?
}

/// A short indexed read: on SQLite right here on the async worker when a connection is
/// free (its WAL readers never wait for writers, so a read costs microseconds and a thread
/// hop would cost more); otherwise, and always on PostgreSQL (a network round trip), on
/// the blocking threads.
pub async fn read<T, E, F>(pool: &DbPool, url: &DatabaseUrl, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    E: TaskError + Send + 'static,
    T: Send + 'static,
{
    if let DatabaseUrl::Sqlite(_) = url {
        if let Some(mut conn) = pool.try_get() {
            let done = work(&mut conn);
            if done.as_ref().is_err_and(E::is_unavailable) {
                conn.set_instrumentation(Closed);
            }
            return done;
        }
    }
    run(pool, work).await
}

/// A connection for short work right here on the async worker (no thread hop): only for
/// the API check's cache misses on SQLite, whose WAL readers never wait for writers.
pub fn get_inline(pool: &DbPool) -> Result<PooledConn, DbError> {
    pool.get().map_err(|e| {
        tracing::error!(error = %e, "no database connection");
        DbError::Unavailable
    })
}

/// A write transaction. Callers take their account's lock first (see `accounts::lock`).
///
/// On SQLite it begins IMMEDIATE, taking the write lock at once (waiting for it up to the
/// busy timeout): a deferred transaction that reads and then writes fails at once with
/// "database is locked" when another connection wrote in between, whatever the timeout.
/// Inside another transaction it is a savepoint.
pub fn transaction<T, E: From<diesel::result::Error>>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let DbConn::Sqlite(sqlite) = conn else {
        return conn.transaction(work);
    };
    match AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE") {
        Err(diesel::result::Error::AlreadyInTransaction) => return conn.transaction(work),
        begun => begun?,
    }
    let done = work(conn);
    let DbConn::Sqlite(sqlite) = conn else {
        unreachable!("the connection is the SQLite one it was")
    };
    // As diesel's own `transaction` ends one.
    match done {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(sqlite)?;
            Ok(value)
        }
        Err(error) => match AnsiTransactionManager::rollback_transaction(sqlite) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// A fresh application-made id: inserts then need no RETURNING on either backend. Version 7
/// (time-ordered, 74 random bits): new rows land at the end of every primary-key index
/// instead of all over it.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Escapes `%`, `_` and `\` for a LIKE pattern used with `ESCAPE '\'`. Callers compare
/// `lower(column)` with `lower(pattern)`, both in SQL, so both sides fold case alike
/// (SQLite's `lower` folds ASCII only).
pub fn like_contains(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);
diesel::define_sql_function!(
    /// `COALESCE(x, y)` for a timestamp: a typed expression, so its statements are prepared
    /// once (a raw SQL fragment would be planned on every call).
    fn coalesce(
        x: diesel::sql_types::Nullable<diesel::sql_types::Timestamp>,
        y: diesel::sql_types::Timestamp,
    ) -> diesel::sql_types::Timestamp
);

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sqlite::SqliteConnection;

    /// Users still waiting for their first password become invitations that keep working,
    /// and stop reserving their address.
    #[test]
    fn pending_users_become_invitations() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        while conn
            .applied_migrations()
            .unwrap()
            .iter()
            .all(|v| v.to_string().replace('-', "") != "20261128000006")
        {
            conn.run_next_migration(SQLITE_MIGRATIONS).unwrap();
        }
        conn.batch_execute(
            "INSERT INTO accounts (id, name, created_at) VALUES ('a', 'Acme', '2026-11-01 00:00:00');
             INSERT INTO users (id, account_id, email, password_hash, role, created_at) VALUES
                 ('joined', 'a', 'joined@x.test', 'hash', 'admin', '2026-11-01 00:00:00'),
                 ('pending', 'a', 'pending@x.test', '', 'support', '2026-11-01 00:00:00');
             INSERT INTO user_links (id, user_id, purpose, code_hash, expires_at, created_at) VALUES
                 ('l1', 'pending', 'invite', x'01', '2026-11-04 00:00:00', '2026-11-01 00:00:00'),
                 ('l2', 'joined', 'reset', x'02', '2026-11-01 01:00:00', '2026-11-01 00:00:00');",
        )
        .unwrap();
        conn.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
        let mut db = DbConn::Sqlite(conn);
        let invitation = invitations::find_by_hash(&mut db, &[1]).unwrap().unwrap();
        assert_eq!(
            (invitation.email.as_str(), invitation.role.as_str()),
            ("pending@x.test", "support")
        );
        assert!(!users::email_exists(&mut db, &"pending@x.test".to_string().into()).unwrap());
        assert!(users::email_exists(&mut db, &"joined@x.test".to_string().into()).unwrap());
        assert!(user_links::find(&mut db, user_links::RESET, &[2])
            .unwrap()
            .is_some());
    }
}
