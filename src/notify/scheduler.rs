//! The scheduler: each tick queues the expiry reminders that are due, then delivers the
//! outbox. Safe to run in several processes at once: every row is claimed atomically.

use super::mailer::Mailer;
use super::messages::{self, TokenExpiring, REMINDER_HOURS, TOKEN_EXPIRING};
use super::weekly::{self, Repeat};
use crate::clock::SharedClock;
use crate::db::accounts::{self, Numbered};
use crate::db::{
    self, outbox, sessions, usage, usage_totals, users, weekly_reports, DbConn, DbPool,
};
use crate::domain::{TokenId, UserId};
use crate::error::AppError;
use crate::metrics::Metrics;
use chrono::{Duration, NaiveDateTime, Weekday};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use url::Url;

/// Rows handled per query: memory stays bounded whatever the table sizes.
const BATCH: i64 = 500;
/// While a backlog drains, the pause after each batch, as a multiple of the batch's time.
const BACKLOG_PAUSE: u32 = 2;
/// How long a claimed notice stays with its sender before another may take it over.
const CLAIM_LEASE_MINUTES: i64 = 10;
const FIRST_RETRY_SECS: i64 = 30;
const MAX_RETRY_GAP_SECS: i64 = 3600;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub reminders_queued: usize,
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    /// Sessions past their idle or absolute timeout, deleted.
    pub sessions_expired: usize,
    /// Usage rows older than `usage::KEEP_DAYS`, deleted.
    pub usage_rows_deleted: usize,
    /// Weekly token reports queued (one per admin who wants it).
    pub weekly_reports_queued: usize,
}

pub struct Notifier {
    pool: DbPool,
    mailer: Mailer,
    clock: SharedClock,
    base_url: Url,
    weekly_report_day: Option<Weekday>,
    woken: Mutex<bool>,
    signal: Condvar,
    metrics: Arc<Metrics>,
    stopping: AtomicBool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Notifier {
    pub fn new(pool: DbPool, mailer: Mailer, clock: SharedClock, base_url: Url) -> Self {
        Self {
            pool,
            mailer,
            clock,
            base_url,
            weekly_report_day: None,
            woken: Mutex::new(false),
            signal: Condvar::new(),
            metrics: Arc::default(),
            stopping: AtomicBool::new(false),
            thread: Mutex::new(None),
        }
    }

    /// Counts what it sends in these metrics (the server's `/metrics`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Queues each account's weekly report on the first tick of each week starting on
    /// `day` (`None`: never; `sesame digest --once` still does).
    pub fn with_weekly_report(mut self, day: Option<Weekday>) -> Self {
        self.weekly_report_day = day;
        self
    }

    /// Runs ticks on a thread of its own, every `interval` or sooner when woken; the thread
    /// ends once the notifier is dropped.
    pub fn spawn(self: &Arc<Self>, interval: std::time::Duration) {
        let notifier: Weak<Self> = Arc::downgrade(self);
        let thread = std::thread::Builder::new()
            .name("sesame-notify".into())
            .spawn(move || loop {
                let Some(this) = notifier.upgrade() else {
                    break;
                };
                this.sleep(interval);
                if this.stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Err(error) = this.tick() {
                    let error = format!("{:#}", error.into_anyhow());
                    tracing::warn!(error, "notification tick failed; retrying next tick");
                }
            })
            .expect("the notification thread starts");
        if let Ok(mut slot) = self.thread.lock() {
            *slot = Some(thread);
        }
    }

    /// Stops the scheduler thread once the e-mail it may be sending is done (graceful
    /// shutdown), and waits for it.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake();
        let thread = self.thread.lock().ok().and_then(|mut slot| slot.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Sends a message now, outside the outbox: for messages whose body holds a one-time
    /// link and so must never be stored (hand-offs, invitations, password resets).
    pub fn send_now(&self, to: &str, message: &super::messages::Message) -> Result<(), String> {
        self.mailer
            .send(to, &message.subject, &message.text, &message.html)
    }

    /// Asks for a tick now (a new token's notices go out at once).
    pub fn wake(&self) {
        if let Ok(mut woken) = self.woken.lock() {
            *woken = true;
            self.signal.notify_all();
        }
    }

    fn sleep(&self, interval: std::time::Duration) {
        let Ok(woken) = self.woken.lock() else { return };
        if let Ok((mut woken, _)) = self
            .signal
            .wait_timeout_while(woken, interval, |woken| !*woken)
        {
            *woken = false;
        }
    }

    /// One pass: queue due reminders, deliver due notices, delete expired sessions.
    pub fn tick(&self) -> Result<TickReport, AppError> {
        let report = db::with_conn::<_, AppError>(&self.pool, |conn| {
            let now = self.clock.now();
            let devices_before = now - Duration::days(sessions::NEW_DEVICE_DAYS);
            let mut report = TickReport {
                reminders_queued: self.queue_reminders(conn)?,
                weekly_reports_queued: self.queue_weekly_reports(conn, Repeat::OncePerWeek)?,
                sessions_expired: sessions::delete_expired(conn, now, devices_before)?,
                usage_rows_deleted: usage_totals::roll_to(conn, now).and_then(|()| {
                    usage::delete_before(conn, usage::window_start(now, usage::KEEP_DAYS))
                })?,
                ..TickReport::default()
            };
            self.deliver(conn, &mut report)?;
            Ok(report)
        })?;
        if report != TickReport::default() {
            tracing::info!(?report, "notifications");
        }
        Ok(report)
    }

    /// Queues the weekly report of every account that has not had this week's (once per
    /// week), or of every account (now); how many notices.
    pub fn queue_weekly_reports(
        &self,
        conn: &mut DbConn,
        repeat: Repeat,
    ) -> Result<usize, AppError> {
        let now = self.clock.now();
        let (week, due) = match (repeat, self.weekly_report_day) {
            (Repeat::OncePerWeek, None) => return Ok(0),
            (Repeat::OncePerWeek, Some(day)) => {
                let week = weekly::week_of(now, day);
                (week, weekly_reports::due(conn, week)?)
            }
            (Repeat::Now, day) => (
                weekly::week_of(now, day.unwrap_or(Weekday::Mon)),
                weekly_reports::all_accounts(conn)?,
            ),
        };
        let mut queued = 0;
        for account in &due {
            queued += weekly::queue(conn, &self.base_url, account, week, now, repeat)?;
        }
        Ok(queued)
    }

    /// `sesame digest --once`: every account's weekly report queued now, then the outbox
    /// delivered.
    pub fn digest(&self) -> Result<TickReport, AppError> {
        db::with_conn::<_, AppError>(&self.pool, |conn| {
            let mut report = TickReport {
                weekly_reports_queued: self.queue_weekly_reports(conn, Repeat::Now)?,
                ..TickReport::default()
            };
            self.deliver(conn, &mut report)?;
            Ok(report)
        })
    }

    /// Queues the expiry reminders that are due (the first half of a tick).
    pub fn queue_reminders(&self, conn: &mut DbConn) -> Result<usize, AppError> {
        let now = self.clock.now();
        let until = now + Duration::hours(REMINDER_HOURS);
        let (mut queued, mut after) = (0, None::<(NaiveDateTime, String)>);
        loop {
            let position = after.as_ref().map(|(at, id)| (*at, id.as_str()));
            let batch = outbox::reminders_due(conn, now, until, position, BATCH)?;
            let Some(last) = batch.last() else { break };
            after = Some((last.expires_at, last.token_id.to_string()));
            let mut creators: Vec<&UserId> = batch.iter().map(|due| &due.created_by).collect();
            creators.sort_unstable();
            creators.dedup();
            let emails: HashMap<String, String> =
                users::active_emails(conn, &creators)?.into_iter().collect();
            // Account by account, in one order: locks taken in one order never deadlock
            // with another scheduler's.
            let mut in_lock_order: Vec<&outbox::ReminderDue> = batch.iter().collect();
            in_lock_order.sort_by(|a, b| a.account_id.cmp(&b.account_id));
            queued += db::transaction::<_, AppError>(conn, |conn| {
                let mut queued = 0;
                for account in in_lock_order.chunk_by(|a, b| a.account_id == b.account_id) {
                    queued += self.queue_for_account(conn, account, &emails, now)?;
                }
                Ok(queued)
            })?;
            if (batch.len() as i64) < BATCH {
                break;
            }
        }
        Ok(queued)
    }

    /// Queues the reminders of one account's due tokens, in the caller's transaction. The
    /// account's notice numbers are taken at once: one UPDATE of its row per batch, not one
    /// per notice in a savepoint each (on PostgreSQL that left hundreds of row versions,
    /// each locked by a subtransaction, that every foreign-key check on the account then
    /// walked: a seed running meanwhile slowed from a minute to over ten).
    fn queue_for_account(
        &self,
        conn: &mut DbConn,
        due: &[&outbox::ReminderDue],
        emails: &HashMap<String, String>,
        now: NaiveDateTime,
    ) -> Result<usize, AppError> {
        let Some(account_id) = due.first().map(|d| &d.account_id) else {
            return Ok(0);
        };
        // The account's row first (taking no number locks it on PostgreSQL): once it is
        // held, another scheduler that queued some of these reminders has committed, and
        // they are no longer unqueued.
        accounts::take_numbers(conn, account_id, Numbered::Notices, 0)?;
        let ids: Vec<&TokenId> = due.iter().map(|d| &d.token_id).collect();
        let unqueued: HashSet<String> = outbox::reminders_not_queued(conn, &ids)?
            .into_iter()
            .collect();
        // A disabled creator gets nothing (and their token stays unqueued).
        let mut to_send = Vec::new();
        for due in due
            .iter()
            .filter(|d| unqueued.contains(d.token_id.as_str()))
        {
            let Some(to) = emails.get(due.created_by.as_str()) else {
                continue;
            };
            let message = messages::token_expiring(
                &self.base_url,
                &TokenExpiring {
                    token_id: &due.token_id,
                    name: &due.name,
                    expires_at: due.expires_at,
                    last_used_at: due.last_used_at,
                    last_used_ip: due.last_used_ip.as_deref(),
                },
            )
            .map_err(|e| AppError::internal(format!("e-mail template: {e}")))?;
            to_send.push((*due, to, message));
        }
        if to_send.is_empty() {
            return Ok(0);
        }
        let count = to_send.len() as i64;
        let last = accounts::take_numbers(conn, account_id, Numbered::Notices, count)?;
        for (seq, (due, to, message)) in (last - count + 1..).zip(&to_send) {
            let notice =
                messages::notice(account_id, TOKEN_EXPIRING, &due.token_id, "", to, message);
            outbox::insert_numbered(conn, &notice, Some(seq), now)?;
        }
        let sent: Vec<&TokenId> = to_send.iter().map(|(due, _, _)| &due.token_id).collect();
        outbox::mark_reminders_queued(conn, &sent)?;
        Ok(to_send.len())
    }

    fn deliver(&self, conn: &mut DbConn, report: &mut TickReport) -> Result<(), AppError> {
        loop {
            let started = std::time::Instant::now();
            let now = self.clock.now();
            let due = outbox::due(conn, now, BATCH)?;
            for id in &due {
                if self.stopping.load(Ordering::SeqCst) {
                    return Ok(()); // shutting down: unclaimed notices wait for the next start
                }
                // Each row's own time: a slow batch must not hand out leases already lapsed.
                let now = self.clock.now();
                let lease = now + Duration::minutes(CLAIM_LEASE_MINUTES);
                if !outbox::claim(conn, id, now, lease)? {
                    continue; // another scheduler has it
                }
                let notice = outbox::load(conn, id)?;
                match self.mailer.send(
                    &notice.recipient,
                    &notice.subject,
                    &notice.body_text,
                    &notice.body_html,
                ) {
                    Ok(()) => {
                        outbox::mark_sent(conn, id, self.clock.now())?;
                        report.sent += 1;
                        self.metrics.notices_sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        let retry_at =
                            retry_at(now, notice.attempts).filter(|at| *at <= notice.give_up_at);
                        if retry_at.is_some() {
                            report.retrying += 1;
                            self.metrics.notices_retried.fetch_add(1, Ordering::Relaxed);
                        } else {
                            report.failed += 1;
                            self.metrics.notices_failed.fetch_add(1, Ordering::Relaxed);
                        }
                        tracing::warn!(notice = %id, attempts = notice.attempts, %error, "e-mail not sent");
                        outbox::mark_attempt_failed(conn, id, &error, retry_at)?;
                    }
                }
            }
            if (due.len() as i64) < BATCH {
                return Ok(());
            }
            // A backlog (after a bulk import, 28,000 reminders fell due at once) drains a
            // third of the time, in bursts of one batch, so pages and the API keep most
            // of the machine meanwhile. A wake-up (a new token) ends the pause early.
            self.sleep(started.elapsed() * BACKLOG_PAUSE);
        }
    }
}

/// Exponential back-off: 30 s after the first attempt, doubling, at most an hour apart.
fn retry_at(now: NaiveDateTime, attempts: i32) -> Option<NaiveDateTime> {
    let exponent = attempts.saturating_sub(1).clamp(0, 16) as u32;
    let gap = (FIRST_RETRY_SECS * 2i64.pow(exponent)).min(MAX_RETRY_GAP_SECS);
    Some(now + Duration::seconds(gap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_thirty_seconds_to_an_hour() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        let gaps: Vec<i64> = (1..=9)
            .map(|a| (retry_at(now, a).unwrap() - now).num_seconds())
            .collect();
        assert_eq!(gaps, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
