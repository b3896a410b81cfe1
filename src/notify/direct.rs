//! Work done after the answer, by a thread of its own, so that neither the answer nor its
//! timing says whether an address has an account: "Forgot password" looks the address up,
//! makes the link and sends it here, and a failed sign-in is audited here. The reset
//! e-mail is never stored: the message lives only in this queue until it is sent, and the
//! database keeps the link's hash alone.

use super::mailer::Mailer;
use super::messages::{self, PasswordLink};
use crate::auth::one_time;
use crate::clock::SharedClock;
use crate::db::{audit, user_links, users, DbPool};
use crate::domain::EmailAddress;
use chrono::{Duration, NaiveDateTime};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use url::Url;

/// Jobs waiting at most; beyond that a job is dropped (and logged): the person can ask
/// again, and a flood cannot grow memory.
const QUEUE: usize = 256;
pub const RESET_VALID_HOURS: i64 = 1;

enum Job {
    /// Someone asked for a reset link for this (normalised, well-formed) address.
    Reset { email: EmailAddress },
    /// A wrong password for an existing user: the audit event.
    SigninFailed {
        user: users::Credentials,
        ip: Option<String>,
        at: NaiveDateTime,
    },
}

/// What the worker needs.
struct Worker {
    pool: DbPool,
    mailer: Mailer,
    clock: SharedClock,
    base_url: Url,
    /// Held by the worker around each job; tests hold it to prove that answers come first.
    busy: Arc<Mutex<()>>,
}

pub struct DirectMail {
    jobs: SyncSender<Job>,
    busy: Arc<Mutex<()>>,
}

impl DirectMail {
    /// Starts the worker thread; it stops once the queue is dropped.
    pub fn start(pool: DbPool, mailer: Mailer, clock: SharedClock, base_url: Url) -> Self {
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let busy = Arc::new(Mutex::new(()));
        let worker = Worker {
            pool,
            mailer,
            clock,
            base_url,
            busy: busy.clone(),
        };
        std::thread::Builder::new()
            .name("sesame-direct".into())
            .spawn(move || {
                for job in queue {
                    let _busy = worker.busy.lock().unwrap_or_else(|e| e.into_inner());
                    if let Err(error) = worker.run(job) {
                        tracing::warn!(error = format!("{error:#}"), "background job failed");
                    }
                }
            })
            .expect("the background thread starts");
        Self { jobs, busy }
    }

    /// Queues a reset link for the address, if it belongs to an active user; never waits.
    pub fn reset(&self, email: EmailAddress) {
        self.queue(Job::Reset { email });
    }

    /// Queues the audit of a failed sign-in; never waits.
    pub fn signin_failed(&self, user: users::Credentials, ip: Option<String>, at: NaiveDateTime) {
        self.queue(Job::SigninFailed { user, ip, at });
    }

    /// For tests: while the guard lives, the worker starts no job.
    pub fn hold(&self) -> MutexGuard<'_, ()> {
        self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn queue(&self, job: Job) {
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!("background queue full; a job was dropped")
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::error!("the background thread has stopped")
            }
        }
    }
}

impl Worker {
    fn run(&self, job: Job) -> anyhow::Result<()> {
        let mut conn = self.pool.get()?;
        match job {
            Job::Reset { email } => {
                // Only people who can sign in: someone invited is not a user until they
                // accept (72 h), and a disabled user must be enabled first.
                let user = match users::find_credentials(&mut conn, &email)? {
                    Some(c) if !c.disabled => users::find_session_user(&mut conn, &c.id)?,
                    _ => None,
                };
                let Some(user) = user else { return Ok(()) };
                let now = self.clock.now();
                let expires_at = now + Duration::hours(RESET_VALID_HOURS);
                let (code, code_hash) = one_time::new_code();
                user_links::insert(
                    &mut conn,
                    &user.id,
                    user_links::RESET,
                    &code_hash,
                    expires_at,
                    now,
                )?;
                drop(conn);
                let url = crate::links::absolute(&self.base_url, &format!("reset/{code}"));
                let message = messages::password_link(&PasswordLink {
                    account_name: &user.account_name,
                    invited_by: None,
                    role: user.role.as_str(),
                    url: &url,
                    expires_at,
                })?;
                self.mailer
                    .send(&user.email, &message.subject, &message.text, &message.html)
                    .map_err(anyhow::Error::msg)
            }
            Job::SigninFailed { user, ip, at } => {
                audit::insert(
                    &mut conn,
                    &audit::NewEvent {
                        account_id: Some(&user.account_id),
                        actor_id: Some(&user.id),
                        actor_email: Some(&user.email),
                        action: "user.signin_failed",
                        token_id: None,
                        detail: "",
                        ip: ip.as_deref(),
                    },
                    at,
                )?;
                Ok(())
            }
        }
    }
}
