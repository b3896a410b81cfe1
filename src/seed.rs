//! `sesame seed`: fills an account with synthetic tokens — a realistic mix of active,
//! soon-expiring, expired and revoked — for benchmarks and demos. Rows are written in
//! batches, one transaction each; secrets are real (HMAC + AES-GCM), passwords discarded.

use crate::db::schema::{api_tokens, token_networks};
use crate::db::{self, accounts, users, DbConn};
use crate::error::AppError;
use crate::tokens::secret::{self, TokenCrypto};
use chrono::{Duration, NaiveDateTime};
use diesel::{Insertable, RunQueryDsl};
use rand::Rng;

/// Rows per transaction, and per INSERT statement (16 bound values a row stays under both
/// SQLite's and PostgreSQL's limits).
const BATCH: usize = 10_000;
const ROWS_PER_INSERT: usize = 1_000;

/// Share of each state, in twentieths: 12 active, 2 expiring within 7 days, 3 expired,
/// 3 revoked.
fn state_of(i: usize) -> State {
    match i % 20 {
        0..=11 => State::Active,
        12..=13 => State::ExpiringSoon,
        14..=16 => State::Expired,
        _ => State::Revoked,
    }
}

enum State {
    Active,
    ExpiringSoon,
    Expired,
    Revoked,
}

/// A multi-row INSERT on the concrete connection (MultiConnection has none).
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            DbConn::Sqlite(c) => diesel::insert_into($table).values($rows).execute(c)?,
            DbConn::Pg(c) => diesel::insert_into($table).values($rows).execute(c)?,
        }
    };
}

pub fn seed(
    conn: &mut DbConn,
    crypto: &TokenCrypto,
    account_name: &str,
    count: usize,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let (account_id, admin_id) = db::transaction(conn, |conn| {
        let account_id = match accounts::find_by_name(conn, account_name)? {
            Some(account) => account.id,
            None => {
                let id = db::new_id();
                accounts::insert(conn, &id, account_name, now)?;
                id
            }
        };
        let admin_id = match users::find_an_admin(conn, &account_id)? {
            Some(id) => id,
            None => create_seed_admin(conn, &account_id, now)?,
        };
        Ok((account_id, admin_id))
    })?;
    // A large page cache keeps SQLite from spilling and re-reading index pages while the
    // random usernames land all over their index (PostgreSQL manages its own buffers).
    // No fsync while seeding: synthetic rows for benchmarks and demos; a crash of the
    // process loses nothing committed, only a crash of the machine could.
    sqlite_pragmas(
        conn,
        "PRAGMA cache_size = -262144; PRAGMA synchronous = OFF",
    )?;
    let written = write_batches(conn, crypto, &account_id, &admin_id, count, now);
    // The connection goes back to its pool: the usual settings again, whatever happened.
    sqlite_pragmas(
        conn,
        "PRAGMA cache_size = -2000; PRAGMA synchronous = NORMAL",
    )?;
    written?;
    // Bumps the account's version: cached counts of its tokens start over.
    db::transaction(conn, |conn| Ok(accounts::lock(conn, &account_id)?))?;
    Ok(())
}

fn sqlite_pragmas(conn: &mut DbConn, pragmas: &str) -> Result<(), AppError> {
    if let DbConn::Sqlite(sqlite) = conn {
        diesel::connection::SimpleConnection::batch_execute(sqlite, pragmas)?;
    }
    Ok(())
}

/// Writes the tokens, a transaction a batch.
fn write_batches(
    conn: &mut DbConn,
    crypto: &TokenCrypto,
    account_id: &str,
    admin_id: &str,
    count: usize,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    // Names are unique per run, so seeding twice never collides with active names.
    let run = &secret::generate_username()[4..10];
    let mut rng = rand::thread_rng();
    for start in (0..count).step_by(BATCH) {
        let numbers = start..(start + BATCH).min(count);
        let (tokens, networks) =
            batch_of(&mut rng, crypto, account_id, admin_id, run, numbers, now);
        db::transaction(conn, |conn| {
            for rows in tokens.chunks(ROWS_PER_INSERT) {
                insert_all!(conn, api_tokens::table, rows);
            }
            for rows in networks.chunks(ROWS_PER_INSERT) {
                insert_all!(conn, token_networks::table, rows);
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Tokens number `numbers` of a run, and their networks.
fn batch_of(
    rng: &mut rand::rngs::ThreadRng,
    crypto: &TokenCrypto,
    account_id: &str,
    admin_id: &str,
    run: &str,
    numbers: std::ops::Range<usize>,
    now: NaiveDateTime,
) -> (Vec<SeedToken>, Vec<SeedNetwork>) {
    let mut tokens = Vec::with_capacity(numbers.len());
    let mut networks = Vec::new();
    for i in numbers {
        let token = synthetic(rng, crypto, account_id, admin_id, run, i, now);
        networks.extend(
            networks_of(i)
                .into_iter()
                .enumerate()
                .map(|(position, network)| SeedNetwork {
                    token_id: token.id.clone(),
                    position: position as i32,
                    network,
                }),
        );
        tokens.push(token);
    }
    (tokens, networks)
}

#[derive(Insertable)]
#[diesel(table_name = api_tokens, treat_none_as_default_value = false)]
struct SeedToken {
    id: String,
    account_id: String,
    name: String,
    description: &'static str,
    username: String,
    secret_hmac: Vec<u8>,
    secret_enc: Vec<u8>,
    created_by: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    revoked_at: Option<NaiveDateTime>,
    revoked_by: Option<String>,
    revoke_reason: Option<&'static str>,
}

#[derive(Insertable)]
#[diesel(table_name = token_networks)]
struct SeedNetwork {
    token_id: String,
    position: i32,
    network: String,
}

/// Token number `i` of a run: its state by `state_of`, real secrets, random dates.
fn synthetic(
    rng: &mut rand::rngs::ThreadRng,
    crypto: &TokenCrypto,
    account_id: &str,
    admin_id: &str,
    run: &str,
    i: usize,
    now: NaiveDateTime,
) -> SeedToken {
    let mut days = |range: std::ops::Range<i64>| Duration::days(rng.gen_range(range));
    let created_at = now - days(1..200);
    let (expires_at, revoked_at) = match state_of(i) {
        State::Active => (now + days(8..366), None),
        State::ExpiringSoon => (
            now + Duration::minutes(rng.gen_range(60..7 * 24 * 60)),
            None,
        ),
        State::Expired => (created_at + days(1..90).min(now - created_at), None),
        State::Revoked => (
            now + days(1..300),
            Some(created_at + (now - created_at) / 2),
        ),
    };
    let id = db::new_id();
    let password = secret::generate_password();
    SeedToken {
        name: format!("synthetic-{run}-{i:07}"),
        description: "Synthetic token from `sesame seed`",
        username: secret::generate_username(),
        secret_hmac: crypto.hash(password.expose()),
        secret_enc: crypto.encrypt(&id, &password),
        id,
        account_id: account_id.to_string(),
        created_by: admin_id.to_string(),
        created_at,
        updated_at: revoked_at.unwrap_or(created_at),
        expires_at,
        revoked_at,
        revoked_by: revoked_at.map(|_| admin_id.to_string()),
        revoke_reason: revoked_at.map(|_| "synthetic revocation"),
    }
}

/// One token in five has one network, one in five two, the rest none.
fn networks_of(i: usize) -> Vec<String> {
    match i % 5 {
        0 => vec![format!("10.{}.0.0/16", i % 250)],
        1 => vec![format!("192.0.2.{}", i % 250), "2001:db8::/32".into()],
        _ => Vec::new(),
    }
}

fn create_seed_admin(
    conn: &mut DbConn,
    account_id: &str,
    now: NaiveDateTime,
) -> Result<String, AppError> {
    let id = db::new_id();
    // Nobody knows this password: the user only owns the synthetic tokens.
    let unusable = crate::auth::password::hash(secret::generate_password().expose());
    users::insert(
        conn,
        &users::NewUser {
            id: &id,
            account_id,
            email: &format!("seed-{account_id}@example.invalid"),
            password_hash: &unusable,
            role: users::Role::Admin,
        },
        now,
    )?;
    Ok(id)
}
