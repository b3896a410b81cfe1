//! PostgreSQL only: the statements that keep every server process's API check cache
//! coherent (docs/revocation.md). A token write numbers its change and notifies in its own
//! transaction; each process listens, forgets, and acknowledges; the writer waits for
//! every process that holds a live lease.

use super::DbConn;
use crate::config::DatabaseUrl;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};
use diesel::{ConnectionError, PgConnection};
use std::time::{Duration, Instant};

/// The channel every change number is sent on.
const CHANNEL: &str = "sesame_token_changes";

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Inside a token write, as its last statement: takes the next change number (the row lock
/// is held until the commit, so numbers follow the order of the commits) and sends it on
/// the channel (PostgreSQL delivers it at the commit, to every listening process).
pub fn announce(conn: &mut DbConn) -> QueryResult<i64> {
    let number = diesel::sql_query(
        "UPDATE token_changes SET last_change = last_change + 1 WHERE id = 1 \
         RETURNING last_change AS n",
    )
    .get_result::<Number>(conn)?;
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(CHANNEL)
        .bind::<Text, _>(number.n.to_string())
        .execute(conn)?;
    Ok(number.n)
}

/// After the commit of change `n`: waits until every process whose lease is live (by the
/// database's clock) has acknowledged `n`, or `limit` has passed. Whether everyone did.
pub fn wait_for_acks(conn: &mut DbConn, n: i64, limit: Duration) -> QueryResult<bool> {
    let deadline = Instant::now() + limit;
    loop {
        let waiting = diesel::sql_query(
            "SELECT count(*) AS n FROM check_cache_leases \
             WHERE acked < $1 AND lease_until > clock_timestamp()::timestamp",
        )
        .bind::<BigInt, _>(n)
        .get_result::<Number>(conn)?;
        if waiting.n == 0 {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A process's own connection, outside the pool, listening on the channel.
pub struct Listener(PgConnection);

/// Opens a `Listener`. libpq gives up on a server that stops answering
/// (`tcp_user_timeout`), so a cut-off database ends the session instead of hanging it.
pub fn listen(url: &DatabaseUrl) -> Result<Listener, ConnectionError> {
    let DatabaseUrl::Postgres(url) = url else {
        return Err(ConnectionError::InvalidConnectionUrl(
            "leases are kept on PostgreSQL only".into(),
        ));
    };
    let _opening = super::OPENING.enter()?;
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{separator}connect_timeout=2&tcp_user_timeout=2000");
    let mut conn = PgConnection::establish(&url)?;
    conn.batch_execute(&format!("SET statement_timeout = '2s'; LISTEN {CHANNEL};"))
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(Listener(conn))
}

/// Takes a lease for `process_id`, valid `lease` from now by the database's clock, with
/// nothing acknowledged yet (writers wait for it until it has caught up, `tokens::lease`).
/// Clears leases long dead.
pub fn claim(Listener(conn): &mut Listener, process_id: &str, lease: Duration) -> QueryResult<()> {
    conn.batch_execute(
        "DELETE FROM check_cache_leases \
         WHERE lease_until < clock_timestamp()::timestamp - interval '1 minute'",
    )?;
    diesel::sql_query(
        "INSERT INTO check_cache_leases (process_id, lease_until, acked) \
         VALUES ($1, clock_timestamp()::timestamp + make_interval(secs => $2), 0) \
         ON CONFLICT (process_id) DO UPDATE SET lease_until = EXCLUDED.lease_until",
    )
    .bind::<Text, _>(process_id)
    .bind::<Double, _>(lease.as_secs_f64())
    .execute(conn)
    .map(|_| ())
}

/// Extends the lease; false if it is gone (deleted while this process was away).
pub fn renew(
    Listener(conn): &mut Listener,
    process_id: &str,
    lease: Duration,
) -> QueryResult<bool> {
    diesel::sql_query(
        "UPDATE check_cache_leases \
         SET lease_until = clock_timestamp()::timestamp + make_interval(secs => $2) \
         WHERE process_id = $1",
    )
    .bind::<Text, _>(process_id)
    .bind::<Double, _>(lease.as_secs_f64())
    .execute(conn)
    .map(|rows| rows == 1)
}

/// The number of the last committed change.
pub fn last_change(Listener(conn): &mut Listener) -> QueryResult<i64> {
    diesel::sql_query("SELECT last_change AS n FROM token_changes WHERE id = 1")
        .get_result::<Number>(conn)
        .map(|row| row.n)
}

/// Acknowledges every change up to `n`.
pub fn ack(Listener(conn): &mut Listener, process_id: &str, n: i64) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE check_cache_leases SET acked = GREATEST(acked, $2) WHERE process_id = $1",
    )
    .bind::<Text, _>(process_id)
    .bind::<BigInt, _>(n)
    .execute(conn)
    .map(|_| ())
}

/// Gives the lease up (the process is stopping): no writer waits for it any more.
pub fn release(Listener(conn): &mut Listener, process_id: &str) -> QueryResult<()> {
    diesel::sql_query("DELETE FROM check_cache_leases WHERE process_id = $1")
        .bind::<Text, _>(process_id)
        .execute(conn)
        .map(|_| ())
}

/// Whether any change was announced since the last call (the notices' payloads, the
/// change numbers, are for people reading the channel: the number acknowledged is always
/// read from `token_changes`).
pub fn received(Listener(conn): &mut Listener) -> QueryResult<bool> {
    let mut any = false;
    for notification in conn.notifications_iter() {
        notification?;
        any = true;
    }
    Ok(any)
}
