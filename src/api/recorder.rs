//! Writes caused by API calls — `last_used_at` and IP-whitelist alerts — done by a
//! background thread, so a request never waits for a database write. Each is deduplicated
//! in memory first (and `last_used_at` in SQL too, across processes). Uses are gathered
//! and written once a second, in one statement for every token used (`db::uses`). Calls
//! are counted per token and day in memory and added every `USAGE_TICK` (`db::usage`).

use super::throttle::FailureThrottle;
use crate::db::token_writes::TokenWrites;
use crate::db::usage_totals as db_usage_totals;
use crate::db::uses::{self as db_uses, Use};
use crate::db::{audit, tokens, DbPool};
use crate::domain::{AccountId, TokenId};
use crate::error::AppError;
use crate::notify::messages::{self, TokenIpAlert};
use crate::notify::scheduler::Notifier;
use crate::tokens::check_cache::CheckCache;
use crate::tokens::usage::{Outcome, UsageCounter};
use crate::tokens::verify::Snapshot;
use chrono::{Duration, NaiveDateTime};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use url::Url;

/// `last_used_at` is written at most this often per token.
pub const USE_GRANULARITY_SECS: i64 = 60;
/// An address outside a token's whitelist is audited at most this often per token; the
/// admins' e-mail about it, at most once an hour (the outbox's period).
pub const ALERT_INTERVAL_SECS: i64 = 60;
/// Uses are written this often, or at `USE_BATCH` tokens if sooner; a renewal's first use
/// revokes the token it replaces within the same time.
const USE_TICK: std::time::Duration = std::time::Duration::from_secs(1);
const USE_BATCH: usize = 1000;
/// Usage counts are written this often: the token page shows a call within this plus the
/// time the write takes.
pub const USAGE_TICK: std::time::Duration = std::time::Duration::from_secs(5);
/// The failure throttle forgets old entries this often.
const HOUSEKEEPING: std::time::Duration = std::time::Duration::from_secs(60);
const QUEUE: usize = 4096;
const MAX_REMEMBERED: usize = 10_000;

enum Job {
    Used {
        token_id: TokenId,
        ip: Option<String>,
        at: NaiveDateTime,
    },
    OutsideWhitelist {
        token_id: TokenId,
        token_name: String,
        account_id: AccountId,
        ip: String,
        at: NaiveDateTime,
    },
    /// Finish what is queued, then stop (the server is exiting).
    Stop,
}

pub struct Recorder {
    jobs: SyncSender<Job>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    used: Recent<TokenId>,
    alerted: Recent<(TokenId, IpAddr)>,
    usage: Arc<UsageCounter>,
}

/// What the writer thread needs.
struct Writer {
    pool: DbPool,
    notifier: Arc<Notifier>,
    base_url: Url,
    check_cache: Arc<CheckCache>,
    usage: Arc<UsageCounter>,
}

impl Recorder {
    /// Starts the writer thread; it stops when the recorder is dropped.
    pub fn start(
        pool: DbPool,
        throttle: Arc<FailureThrottle>,
        notifier: Arc<Notifier>,
        base_url: Url,
        check_cache: Arc<CheckCache>,
    ) -> Self {
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let usage = Arc::new(UsageCounter::default());
        let writer = Writer {
            pool,
            notifier,
            base_url,
            check_cache,
            usage: usage.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("sesame-recorder".into())
            .spawn(move || writer.run(&queue, &throttle))
            .expect("the recorder thread starts");
        Self {
            jobs,
            thread: Mutex::new(Some(thread)),
            used: Recent::default(),
            alerted: Recent::default(),
            usage,
        }
    }

    /// Counts a call with a known token; written with the next usage batch.
    pub fn count(&self, token: &Snapshot, now: NaiveDateTime, outcome: Outcome) {
        self.usage
            .count(&token.token_id, &token.account_id, now, outcome);
    }

    /// Notes a successful use. `last_used_at` is what the check read from the database.
    pub fn used(
        &self,
        token_id: &TokenId,
        last_used_at: Option<NaiveDateTime>,
        ip: Option<IpAddr>,
        now: NaiveDateTime,
    ) {
        let granularity = Duration::seconds(USE_GRANULARITY_SECS);
        if last_used_at.is_some_and(|t| now - t < granularity)
            || !self.used.first_in(token_id.clone(), now, granularity)
        {
            return;
        }
        self.send(Job::Used {
            token_id: token_id.clone(),
            ip: ip.map(|ip| ip.to_string()),
            at: now,
        });
    }

    /// Notes valid credentials used from outside the token's whitelist.
    pub fn outside_whitelist(
        &self,
        token_id: &TokenId,
        token_name: &str,
        account_id: &AccountId,
        ip: Option<IpAddr>,
        now: NaiveDateTime,
    ) {
        let Some(ip) = ip else { return };
        let interval = Duration::seconds(ALERT_INTERVAL_SECS);
        if !self.alerted.first_in((token_id.clone(), ip), now, interval) {
            return;
        }
        self.send(Job::OutsideWhitelist {
            token_id: token_id.clone(),
            token_name: token_name.to_string(),
            account_id: account_id.clone(),
            ip: ip.to_string(),
            at: now,
        });
    }

    /// Writes what is queued, then stops the thread and waits for it: the process must not
    /// exit while it is inside the database client (`db::close_connections`).
    pub fn shutdown(&self) {
        let thread = self.thread.lock().ok().and_then(|mut slot| slot.take());
        if let Some(thread) = thread {
            if self.jobs.send(Job::Stop).is_ok() {
                let _ = thread.join();
            }
        }
    }

    fn send(&self, job: Job) {
        // A full queue drops the note rather than slow the API down.
        if self.jobs.try_send(job).is_err() {
            tracing::warn!("API use recorder queue full; a note was dropped");
        }
    }
}

impl Writer {
    /// Writes jobs as they come, and the uses gathered once per tick, until stopped.
    fn run(&self, queue: &Receiver<Job>, throttle: &FailureThrottle) {
        let mut uses: HashMap<TokenId, Use> = HashMap::new();
        let mut due = Instant::now() + USE_TICK;
        let mut housekeeping = Instant::now() + HOUSEKEEPING;
        let mut usage_due = Instant::now() + USAGE_TICK;
        loop {
            let wait = if uses.is_empty() {
                housekeeping.min(usage_due)
            } else {
                due.min(housekeeping).min(usage_due)
            };
            match queue.recv_timeout(wait.saturating_duration_since(Instant::now())) {
                Ok(Job::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    self.flush(&mut uses);
                    self.write_usage();
                    return;
                }
                Ok(Job::Used { token_id, ip, at }) => {
                    if uses.is_empty() {
                        due = Instant::now() + USE_TICK;
                    }
                    let unless_since = at - Duration::seconds(USE_GRANULARITY_SECS);
                    uses.insert(
                        token_id.clone(),
                        Use {
                            token_id,
                            ip,
                            at,
                            unless_since,
                        },
                    );
                }
                Ok(job) => self.write(job),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if !uses.is_empty() && (uses.len() >= USE_BATCH || Instant::now() >= due) {
                self.flush(&mut uses);
            }
            if Instant::now() >= usage_due {
                self.write_usage();
                usage_due = Instant::now() + USAGE_TICK;
            }
            if Instant::now() >= housekeeping {
                throttle.housekeeping();
                housekeeping = Instant::now() + HOUSEKEEPING;
            }
        }
    }

    /// Writes the gathered uses in one statement; a renewal among them revokes the token it
    /// replaces, in the same transaction.
    fn flush(&self, uses: &mut HashMap<TokenId, Use>) {
        if uses.is_empty() {
            return;
        }
        let batch: Vec<Use> = uses.drain().map(|(_, used)| used).collect();
        let result = crate::db::with_conn(&self.pool, |conn| {
            crate::db::token_writes::write(conn, Some(&*self.check_cache), |conn| {
                db_uses::stamp_new_days(conn, &batch)?;
                db_uses::record(conn, &batch)?;
                let ids: Vec<&str> = batch.iter().map(|u| u.token_id.as_str()).collect();
                for renewal in db_uses::renewals_to_apply(conn, &ids)? {
                    let used = batch.iter().find(|u| u.token_id == renewal);
                    let (at, ip) = used.map_or((batch[0].at, None), |u| (u.at, u.ip.as_deref()));
                    revoke_replaced(conn, &renewal, at, ip)?;
                }
                Ok::<_, AppError>(())
            })
        });
        if let Err(error) = result {
            let error = format!("{:#}", error.into_anyhow());
            tracing::warn!(error, "could not record API uses");
        }
    }

    /// Adds the calls counted since the last tick; on failure they wait for the next.
    fn write_usage(&self) {
        let batch = self.usage.take();
        if batch.is_empty() {
            return;
        }
        let result = crate::db::with_conn::<_, AppError>(&self.pool, |conn| {
            Ok(db_usage_totals::add(conn, &batch)?)
        });
        if let Err(error) = result {
            let error = format!("{:#}", error.into_anyhow());
            tracing::warn!(
                error,
                "could not record API usage; it is kept for the next tick"
            );
            self.usage.restore(batch);
        }
    }

    fn write(&self, job: Job) {
        let result = crate::db::with_conn(&self.pool, |conn| {
            match &job {
            // Gathered and written by `flush`.
            Job::Used { .. } | Job::Stop => Ok(()),
            Job::OutsideWhitelist {
                token_id,
                token_name,
                account_id,
                ip,
                at,
            } => crate::db::transaction(conn, |conn| {
                audit::insert(
                    conn,
                    &audit::NewEvent {
                        account_id: Some(account_id),
                        actor_id: None,
                        actor_email: None,
                        action: "token.ip_denied",
                        token_id: Some(token_id),
                        detail: &format!("valid credentials used from {ip}, outside the token's allowed networks"),
                        ip: Some(ip),
                    },
                    *at,
                )?;
                let alert = TokenIpAlert {
                    token_id,
                    name: token_name,
                    address: ip,
                    at: *at,
                };
                messages::queue_ip_alert(conn, &self.base_url, account_id, &alert)
            })
            .map(|()| self.notifier.wake()),
        }
        });
        if let Err(error) = result {
            let error = format!("{:#}", error.into_anyhow());
            tracing::warn!(error, "could not record API use");
        }
    }
}

/// A renewal's first use: revokes the token it replaces, audited as the system's doing.
fn revoke_replaced(
    conn: &mut TokenWrites<'_>,
    renewal: &TokenId,
    at: NaiveDateTime,
    ip: Option<&str>,
) -> Result<(), AppError> {
    if let Some((old_id, account_id)) = tokens::revoke_replaced(conn, renewal, at)? {
        audit::insert(
            conn,
            &audit::NewEvent {
                account_id: Some(&account_id),
                actor_id: None,
                actor_email: None,
                action: "token.revoke",
                token_id: Some(&old_id),
                detail: &format!("reason: {}", tokens::AUTO_REVOKE_REASON),
                ip,
            },
            at,
        )?;
    }
    Ok(())
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
