//! `sesame seed`: fills an account with synthetic tokens — a realistic mix of active,
//! soon-expiring, expired and revoked — for benchmarks and demos. Rows are written in
//! batches, one transaction each; secrets are real (HMAC + AES-GCM), passwords discarded.

use crate::db::{self, accounts, tokens, users, DbConn};
use crate::error::AppError;
use crate::tokens::secret::{self, TokenCrypto};
use chrono::{Duration, NaiveDateTime};
use rand::Rng;

const BATCH: usize = 2_000;

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
    // Random ids land all over four indexes: a large page cache keeps SQLite from spilling
    // and re-reading pages on every insert (PostgreSQL manages its own buffers).
    if let DbConn::Sqlite(sqlite) = conn {
        diesel::connection::SimpleConnection::batch_execute(sqlite, "PRAGMA cache_size = -262144")?;
    }
    // Names are unique per run, so seeding twice never collides with active names.
    let run: String = secret::generate_username()[4..10].to_string();
    let mut rng = rand::thread_rng();
    for start in (0..count).step_by(BATCH) {
        db::transaction(conn, |conn| {
            for i in start..(start + BATCH).min(count) {
                let days = |rng: &mut rand::rngs::ThreadRng, range: std::ops::Range<i64>| {
                    Duration::days(rng.gen_range(range))
                };
                let created_at = now - days(&mut rng, 1..200);
                let (expires_at, revoked_at) = match state_of(i) {
                    State::Active => (now + days(&mut rng, 8..366), None),
                    State::ExpiringSoon => (
                        now + Duration::minutes(rng.gen_range(60..7 * 24 * 60)),
                        None,
                    ),
                    State::Expired => (
                        created_at + days(&mut rng, 1..90).min(now - created_at),
                        None,
                    ),
                    State::Revoked => (
                        now + days(&mut rng, 1..300),
                        Some(created_at + (now - created_at) / 2),
                    ),
                };
                let id = db::new_id();
                let username = secret::generate_username();
                let password = secret::generate_password();
                let networks: Vec<String> = match i % 5 {
                    0 => vec![format!("10.{}.0.0/16", i % 250)],
                    1 => vec![format!("192.0.2.{}", i % 250), "2001:db8::/32".into()],
                    _ => Vec::new(),
                };
                tokens::insert(
                    conn,
                    &tokens::NewToken {
                        id: &id,
                        account_id: &account_id,
                        name: &format!("synthetic-{run}-{i:07}"),
                        description: "Synthetic token from `sesame seed`",
                        username: &username,
                        secret_hmac: &crypto.hash(password.expose()),
                        secret_enc: &crypto.encrypt(&id, &password),
                        created_by: &admin_id,
                        expires_at,
                        replaces_id: None,
                        revoke_replaced_on_use: false,
                    },
                    &networks,
                    created_at,
                )?;
                if let Some(at) = revoked_at {
                    tokens::revoke(conn, &id, &admin_id, Some("synthetic revocation"), at)?;
                }
            }
            Ok(())
        })?;
    }
    Ok(())
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
            email: &format!("seed-{}@example.invalid", &account_id[..8]),
            password_hash: &unusable,
            role: users::Role::Admin,
        },
        now,
    )?;
    Ok(id)
}
