//! `sesame seed`: fills an account with synthetic tokens — a realistic mix of active,
//! soon-expiring, expired and revoked — for benchmarks and demos, and optionally with audit
//! events, sent notices and users. Rows are written in batches, one transaction each;
//! secrets are real (HMAC + AES-GCM), passwords discarded.

use crate::db::accounts::Numbered;
use crate::db::bulk::{
    self, with_bulk_settings, SeedEvent, SeedNetwork, SeedNotice, SeedToken, SeedUser,
};
use crate::db::{self, accounts, users, DbConn};
use crate::domain::{AccountId, EmailAddress, UserId};
use crate::tokens::secret::{self, TokenCrypto};
use chrono::{Duration, NaiveDateTime};
use rand::Rng;

/// Rows per transaction.
const BATCH: usize = 10_000;

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

/// What `sesame seed` adds to an account.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    pub tokens: usize,
    pub events: usize,
    pub notices: usize,
    pub users: usize,
    /// Days of usage counts for every token of the account, ending today.
    pub usage_days: usize,
}

/// Adds what the plan says (the events and notices are about the tokens), then gives the
/// query planner fresh statistics.
pub fn run(
    conn: &mut DbConn,
    crypto: &TokenCrypto,
    account_name: &str,
    plan: &Plan,
    now: NaiveDateTime,
) -> anyhow::Result<()> {
    use anyhow::Context;
    seed(conn, crypto, account_name, plan.tokens, now).context("seeding tokens")?;
    seed_events(conn, account_name, plan.events, now).context("seeding audit events")?;
    seed_notices(conn, account_name, plan.notices, now).context("seeding notices")?;
    seed_users(conn, account_name, plan.users, now).context("seeding users")?;
    seed_usage(conn, account_name, plan.usage_days, now).context("seeding usage")?;
    db::optimize(conn).context("refreshing the planner's statistics")
}

/// Adds `count` synthetic tokens to the account (made if needed, with an admin who owns
/// them).
pub fn seed(
    conn: &mut DbConn,
    crypto: &TokenCrypto,
    account_name: &str,
    count: usize,
    now: NaiveDateTime,
) -> anyhow::Result<()> {
    let (account_id, admin_id) = account_and_admin(conn, account_name, now)?;
    with_bulk_settings(conn, |conn| {
        write_batches(conn, crypto, &account_id, &admin_id, count, now)
    })
}

/// The account of that name and one of its admins, both made if needed.
fn account_and_admin(
    conn: &mut DbConn,
    account_name: &str,
    now: NaiveDateTime,
) -> anyhow::Result<(AccountId, UserId)> {
    db::transaction::<_, anyhow::Error>(conn, |conn| {
        let account_id = match accounts::find_by_name(conn, account_name)? {
            Some(account) => account.id,
            None => {
                let id = AccountId::generate();
                accounts::insert(conn, &id, account_name, now)?;
                id
            }
        };
        let admin_id = match users::find_an_admin(conn, &account_id)? {
            Some(id) => id,
            None => create_seed_admin(conn, &account_id, now)?,
        };
        Ok((account_id, admin_id))
    })
}

/// Writes the tokens, a transaction a batch.
fn write_batches(
    conn: &mut DbConn,
    crypto: &TokenCrypto,
    account_id: &AccountId,
    admin_id: &UserId,
    count: usize,
    now: NaiveDateTime,
) -> anyhow::Result<()> {
    // Names are unique per run, so seeding twice never collides with active names.
    let run = &secret::generate_username()[4..10];
    let mut rng = rand::thread_rng();
    for start in (0..count).step_by(BATCH) {
        let numbers = start..(start + BATCH).min(count);
        let (mut tokens, networks) =
            batch_of(&mut rng, crypto, account_id, admin_id, run, numbers, now);
        db::transaction::<_, anyhow::Error>(conn, |conn| {
            // As every token write: the account's lock, its version on the new rows.
            let version = accounts::lock(conn, account_id)?;
            for token in &mut tokens {
                token.changed_version = version;
            }
            bulk::insert_tokens(conn, &tokens)?;
            bulk::insert_networks(conn, &networks)?;
            Ok(())
        })?;
    }
    Ok(())
}

/// Tokens number `numbers` of a run, and their networks.
fn batch_of(
    rng: &mut rand::rngs::ThreadRng,
    crypto: &TokenCrypto,
    account_id: &AccountId,
    admin_id: &UserId,
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

/// Token number `i` of a run: its state by `state_of`, real secrets, random dates.
fn synthetic(
    rng: &mut rand::rngs::ThreadRng,
    crypto: &TokenCrypto,
    account_id: &AccountId,
    admin_id: &UserId,
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
    // One in three never used; the rest last used at any time since they were created.
    let last_used_at = (!i.is_multiple_of(3)).then(|| {
        let until = revoked_at.unwrap_or(expires_at).min(now);
        let span = (until - created_at).num_minutes().max(1);
        created_at + Duration::minutes(rng.gen_range(0..span))
    });
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
        changed_version: 0,
        last_used_at,
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
    account_id: &AccountId,
    now: NaiveDateTime,
) -> anyhow::Result<UserId> {
    let id = UserId::generate();
    // Nobody knows this password: the user only owns the synthetic tokens.
    let unusable = crate::auth::password::hash(secret::generate_password().expose());
    users::insert(
        conn,
        &users::NewUser {
            id: &id,
            account_id,
            email: &EmailAddress::from(format!("seed-{account_id}@example.invalid")),
            password_hash: &unusable,
            role: users::Role::Admin,
        },
        now,
    )?;
    Ok(id)
}

/// Adds `count` audit events to the account, spread over the last 90 days, about tokens
/// it already has.
pub fn seed_events(
    conn: &mut DbConn,
    account_name: &str,
    count: usize,
    now: NaiveDateTime,
) -> anyhow::Result<()> {
    if count == 0 {
        return Ok(());
    }
    const ACTIONS: [&str; 4] = [
        "token.create",
        "token.update",
        "token.credentials",
        "token.revoke",
    ];
    let (account_id, admin_id) = account_and_admin(conn, account_name, now)?;
    let admin_email = users::find_session_user(conn, &admin_id)?
        .map(|u| u.email)
        .unwrap_or_default();
    let token_ids = crate::db::tokens::some_ids(conn, &account_id, 1000)?;
    with_bulk_settings(conn, |conn| {
        for start in (0..count).step_by(BATCH) {
            let numbers = start..(start + BATCH).min(count);
            db::transaction::<_, anyhow::Error>(conn, |conn| {
                let last = accounts::take_numbers(
                    conn,
                    &account_id,
                    Numbered::AuditEvents,
                    numbers.len() as i64,
                )?;
                let first = last - numbers.len() as i64 + 1;
                let rows: Vec<SeedEvent> = numbers
                    .clone()
                    .enumerate()
                    .map(|(k, i)| SeedEvent {
                        id: db::new_id(),
                        account_id: account_id.to_string(),
                        actor_id: Some(admin_id.to_string()),
                        actor_email: Some(admin_email.clone()),
                        action: ACTIONS[i % ACTIONS.len()],
                        token_id: (!token_ids.is_empty())
                            .then(|| token_ids[i % token_ids.len()].to_string()),
                        detail: "synthetic event from `sesame seed`",
                        ip: Some("192.0.2.10"),
                        created_at: spread(now, i, count),
                        seq: Some(first + k as i64),
                    })
                    .collect();
                Ok(bulk::insert_events(conn, &rows)?)
            })?;
        }
        Ok(())
    })
}

/// Adds `days` days of usage counts, ending today, for every token of the account (most
/// calls accepted; some refused, for every reason).
pub fn seed_usage(
    conn: &mut DbConn,
    account_name: &str,
    days: usize,
    now: NaiveDateTime,
) -> anyhow::Result<()> {
    use crate::db::usage::{self, DayCount, Tally};
    if days == 0 {
        return Ok(());
    }
    let (account_id, _) = account_and_admin(conn, account_name, now)?;
    let today = usage::day_of(now);
    let mut rng = rand::thread_rng();
    let mut after: Option<crate::domain::TokenId> = None;
    with_bulk_settings(conn, |conn| loop {
        let ids = crate::db::tokens::ids_after(conn, &account_id, after.as_ref(), 1000)?;
        let Some(last) = ids.last().cloned() else {
            return Ok(());
        };
        let rows: Vec<DayCount> = ids
            .iter()
            .flat_map(|id| (0..days as i64).map(move |d| (id, d)))
            .map(|(id, d)| DayCount {
                token_id: id.clone(),
                account_id: account_id.clone(),
                day: today - Duration::days(d),
                tally: Tally {
                    accepted: rng.gen_range(0..500),
                    wrong_password: rng.gen_range(0..3),
                    outside_networks: i64::from(rng.gen_ratio(1, 20)),
                    expired: i64::from(rng.gen_ratio(1, 50)),
                    revoked: i64::from(rng.gen_ratio(1, 50)),
                    throttled: i64::from(rng.gen_ratio(1, 100)),
                },
            })
            .collect();
        db::usage_totals::add(conn, &rows)?;
        after = Some(last);
    })
}

/// Adds `count` sent notices to the account's outbox (nothing is e-mailed).
pub fn seed_notices(
    conn: &mut DbConn,
    account_name: &str,
    count: usize,
    now: NaiveDateTime,
) -> anyhow::Result<()> {
    if count == 0 {
        return Ok(());
    }
    let (account_id, admin_id) = account_and_admin(conn, account_name, now)?;
    let recipient = users::find_session_user(conn, &admin_id)?
        .map(|u| u.email)
        .unwrap_or_default();
    let token_ids = crate::db::tokens::some_ids(conn, &account_id, 1000)?;
    let run = &secret::generate_username()[4..10];
    with_bulk_settings(conn, |conn| {
        for start in (0..count).step_by(BATCH) {
            let numbers = start..(start + BATCH).min(count);
            db::transaction::<_, anyhow::Error>(conn, |conn| {
                let last = accounts::take_numbers(
                    conn,
                    &account_id,
                    Numbered::Notices,
                    numbers.len() as i64,
                )?;
                let first = last - numbers.len() as i64 + 1;
                let rows: Vec<SeedNotice> = numbers
                    .clone()
                    .enumerate()
                    .map(|(k, i)| {
                        let at = spread(now, i, count);
                        SeedNotice {
                            id: db::new_id(),
                            account_id: account_id.to_string(),
                            kind: crate::notify::messages::TOKEN_CREATED,
                            token_id: (!token_ids.is_empty())
                                .then(|| token_ids[i % token_ids.len()].to_string()),
                            // Unique per notice (the outbox's once-only key).
                            period: format!("seed-{run}-{i}"),
                            recipient: recipient.clone(),
                            subject: format!("New API token created: synthetic-{i:07}"),
                            body_text: "Synthetic notice from `sesame seed`.",
                            body_html: "<p>Synthetic notice from <code>sesame seed</code>.</p>",
                            status: crate::db::outbox::SENT,
                            attempts: 1,
                            next_attempt_at: at,
                            give_up_at: at,
                            sent_at: Some(at),
                            created_at: at,
                            seq: Some(first + k as i64),
                        }
                    })
                    .collect();
                Ok(bulk::insert_notices(conn, &rows)?)
            })?;
        }
        Ok(())
    })
}

/// Adds `count` members to the account. Nobody knows their password: one unusable hash
/// serves them all (hashing each would take minutes).
pub fn seed_users(
    conn: &mut DbConn,
    account_name: &str,
    count: usize,
    now: NaiveDateTime,
) -> anyhow::Result<()> {
    if count == 0 {
        return Ok(());
    }
    let (account_id, _) = account_and_admin(conn, account_name, now)?;
    let unusable = crate::auth::password::hash(secret::generate_password().expose());
    let run = secret::generate_username()[4..10].to_lowercase();
    with_bulk_settings(conn, |conn| {
        for start in (0..count).step_by(BATCH) {
            let rows: Vec<SeedUser> = (start..(start + BATCH).min(count))
                .map(|i| SeedUser {
                    id: db::new_id(),
                    account_id: account_id.to_string(),
                    email: format!("member-{run}-{i:06}@example.invalid"),
                    password_hash: unusable.clone(),
                    role: users::Role::Member.as_str(),
                    disabled: false,
                    created_at: spread(now, i, count),
                })
                .collect();
            db::transaction::<_, anyhow::Error>(conn, |conn| Ok(bulk::insert_users(conn, &rows)?))?;
        }
        Ok(())
    })
}

/// Row `i` of `count`, dated across the last 90 days, oldest first.
fn spread(now: NaiveDateTime, i: usize, count: usize) -> NaiveDateTime {
    let span = Duration::days(90).num_seconds();
    now - Duration::seconds(span - span * i as i64 / count.max(1) as i64)
}
