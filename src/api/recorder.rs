//! Writes caused by API calls — `last_used_at` and IP-whitelist alerts — done by a
//! background thread, so a request never waits for a database write. Each is deduplicated
//! in memory first (and `last_used_at` in SQL too, across processes).

use super::throttle::FailureThrottle;
use crate::db::{audit, tokens, DbPool};
use chrono::{Duration, NaiveDateTime};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};

/// `last_used_at` is written at most this often per token.
pub const USE_GRANULARITY_SECS: i64 = 60;
/// An address outside a token's whitelist is audited at most this often per token.
pub const ALERT_INTERVAL_SECS: i64 = 60;
const QUEUE: usize = 4096;
const MAX_REMEMBERED: usize = 10_000;

enum Job {
    Used {
        token_id: String,
        ip: Option<String>,
        at: NaiveDateTime,
    },
    OutsideWhitelist {
        token_id: String,
        account_id: String,
        ip: String,
        at: NaiveDateTime,
    },
}

pub struct Recorder {
    jobs: SyncSender<Job>,
    used: Recent<String>,
    alerted: Recent<(String, IpAddr)>,
}

impl Recorder {
    /// Starts the writer thread; it stops when the recorder is dropped.
    pub fn start(pool: DbPool, throttle: Arc<FailureThrottle>) -> Self {
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("sesame-recorder".into())
            .spawn(move || loop {
                match queue.recv_timeout(std::time::Duration::from_secs(60)) {
                    Ok(job) => write(&pool, job),
                    Err(RecvTimeoutError::Timeout) => throttle.housekeeping(),
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            })
            .expect("the recorder thread starts");
        Self {
            jobs,
            used: Recent::default(),
            alerted: Recent::default(),
        }
    }

    /// Notes a successful use. `last_used_at` is what the check read from the database.
    pub fn used(
        &self,
        token_id: &str,
        last_used_at: Option<NaiveDateTime>,
        ip: Option<IpAddr>,
        now: NaiveDateTime,
    ) {
        let granularity = Duration::seconds(USE_GRANULARITY_SECS);
        if last_used_at.is_some_and(|t| now - t < granularity)
            || !self.used.first_in(token_id.to_string(), now, granularity)
        {
            return;
        }
        self.send(Job::Used {
            token_id: token_id.to_string(),
            ip: ip.map(|ip| ip.to_string()),
            at: now,
        });
    }

    /// Notes valid credentials used from outside the token's whitelist.
    pub fn outside_whitelist(
        &self,
        token_id: &str,
        account_id: &str,
        ip: Option<IpAddr>,
        now: NaiveDateTime,
    ) {
        let Some(ip) = ip else { return };
        if !self.alerted.first_in(
            (token_id.to_string(), ip),
            now,
            Duration::seconds(ALERT_INTERVAL_SECS),
        ) {
            return;
        }
        self.send(Job::OutsideWhitelist {
            token_id: token_id.to_string(),
            account_id: account_id.to_string(),
            ip: ip.to_string(),
            at: now,
        });
    }

    fn send(&self, job: Job) {
        // A full queue drops the note rather than slow the API down.
        if self.jobs.try_send(job).is_err() {
            tracing::warn!("API use recorder queue full; a note was dropped");
        }
    }
}

fn write(pool: &DbPool, job: Job) {
    let Ok(mut conn) = pool.get() else {
        tracing::warn!("no database connection for the API use recorder");
        return;
    };
    let result = match &job {
        Job::Used { token_id, ip, at } => tokens::record_use(
            &mut conn,
            token_id,
            ip.as_deref(),
            *at,
            *at - Duration::seconds(USE_GRANULARITY_SECS),
        ),
        Job::OutsideWhitelist {
            token_id,
            account_id,
            ip,
            at,
        } => audit::insert(
            &mut conn,
            &audit::NewEvent {
                account_id: Some(account_id),
                actor_id: None,
                actor_email: None,
                action: "token.ip_denied",
                token_id: Some(token_id),
                detail: &format!(
                    "valid credentials used from {ip}, outside the token's allowed networks"
                ),
                ip: Some(ip),
            },
            *at,
        ),
    };
    if let Err(error) = result {
        tracing::warn!(%error, "could not record API use");
    }
}

/// Remembers when each key was last let through, to let it through once per interval.
struct Recent<K>(Mutex<HashMap<K, NaiveDateTime>>);

impl<K> Default for Recent<K> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash> Recent<K> {
    fn first_in(&self, key: K, now: NaiveDateTime, interval: Duration) -> bool {
        let Ok(mut seen) = self.0.lock() else {
            return false;
        };
        if seen.get(&key).is_some_and(|t| now - *t < interval) {
            return false;
        }
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, t| now - *t < interval);
        }
        seen.insert(key, now);
        true
    }
}
