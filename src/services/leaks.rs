//! Leak reports (GitHub's secret-scanning partner protocol, and `sesame scan --revoke`): a
//! password found where it should not be revokes its token at once, the admins are told,
//! and the audit log records it. Only the holder of a live password can make a report do
//! anything: every other string is a `false_positive` that changes nothing.

use super::Context;
use crate::db::token_writes::{self, TokenWatcher};
use crate::db::{accounts, audit, tokens, DbConn};
use crate::error::AppError;
use crate::notify::messages::{self, TokenLeaked};
use crate::tokens::password_format;
use crate::tokens::secret::TokenCrypto;
use chrono::NaiveDateTime;
use url::Url;

/// Longer than any password this product made: not hashed, not looked up.
const MAX_PASSWORD_LEN: usize = 200;
/// The most of a reported URL or source kept in the reason, the audit log and the e-mail.
const MAX_WHERE_CHARS: usize = 300;

/// One entry of a report.
pub struct Reported {
    pub token: String,
    pub url: String,
    pub source: String,
}

/// What a report found and did with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password of an active token, revoked now.
    Revoked,
    /// The password of a token that had already ended: nothing changes.
    AlreadyEnded,
    /// Not a password of this product.
    NotOurs,
}

impl Verdict {
    /// The protocol's `label`: a password of ours, live or not, is a true positive.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Revoked | Verdict::AlreadyEnded => "true_positive",
            Verdict::NotOurs => "false_positive",
        }
    }
}

pub struct LeakService {
    ctx: Context,
}

impl LeakService {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Judges every entry; `reporter` is the client address, for the audit log.
    pub async fn report(
        &self,
        reports: Vec<Reported>,
        reporter: Option<String>,
    ) -> Result<Vec<Verdict>, AppError> {
        let ctx = self.ctx.clone();
        let now = ctx.clock.now();
        let verdicts = crate::db::run(&self.ctx.pool, move |conn| {
            let leaks = Leaks {
                crypto: &ctx.crypto,
                base_url: &ctx.base_url,
                reporter: reporter.as_deref(),
                now,
            };
            leaks.judge(conn, Some(&*ctx.check_cache), &reports)
        })
        .await?;
        if verdicts.contains(&Verdict::Revoked) {
            // The admins' notices go out now, not at the next tick.
            self.ctx.notifier.wake();
        }
        Ok(verdicts)
    }
}

/// A report's judging on one connection: the server's, or the command line's.
pub struct Leaks<'a> {
    pub crypto: &'a TokenCrypto,
    pub base_url: &'a Url,
    /// Who reported (a client address, or the command line), for the audit log.
    pub reporter: Option<&'a str>,
    pub now: NaiveDateTime,
}

impl Leaks<'_> {
    /// Each revocation is its own transaction, committed with the checks' caches emptied
    /// (`watcher`) before the next entry: the token stops working at once.
    pub fn judge<W: TokenWatcher + ?Sized>(
        &self,
        conn: &mut DbConn,
        watcher: Option<&W>,
        reports: &[Reported],
    ) -> Result<Vec<Verdict>, AppError> {
        let mut verdicts = Vec::with_capacity(reports.len());
        for report in reports {
            let verdict = match self.find(conn, &report.token)? {
                None => Verdict::NotOurs,
                Some(token) => {
                    if token.is_active(self.now) && self.revoke(conn, watcher, &token, report)? {
                        Verdict::Revoked
                    } else {
                        Verdict::AlreadyEnded
                    }
                }
            };
            verdicts.push(verdict);
        }
        Ok(verdicts)
    }

    /// The token this password belongs to, in any account. A string of the recognisable
    /// form with a wrong checksum is a look-alike: no lookup.
    fn find(
        &self,
        conn: &mut DbConn,
        password: &str,
    ) -> Result<Option<tokens::TokenRow>, AppError> {
        if password.is_empty()
            || password.len() > MAX_PASSWORD_LEN
            || (password_format::has_prefix(password) && !password_format::is_valid(password))
        {
            return Ok(None);
        }
        Ok(tokens::find_by_secret(
            conn,
            &self.crypto.stored_forms(password),
        )?)
    }

    /// Revokes, audits and queues the admins' notice in one transaction. False when the
    /// token ended meanwhile (another report, an admin): nothing more to do.
    fn revoke<W: TokenWatcher + ?Sized>(
        &self,
        conn: &mut DbConn,
        watcher: Option<&W>,
        token: &tokens::TokenRow,
        report: &Reported,
    ) -> Result<bool, AppError> {
        let url = printable(&report.url);
        let source = printable(&report.source);
        let reason = match (url.is_empty(), source.is_empty()) {
            (false, _) => format!("reported leaked at {url}"),
            (true, false) => format!("reported leaked ({source})"),
            (true, true) => "reported leaked".to_string(),
        };
        let now = self.now;
        let revoked = token_writes::write(conn, watcher, |conn| {
            let version = accounts::lock(conn, &token.account_id)?;
            if !tokens::revoke(conn, &token.id, None, Some(&reason), now, version)? {
                return Ok::<_, AppError>(false);
            }
            let by = self.reporter.unwrap_or("unknown");
            let detail = if source.is_empty() {
                format!("reason: {reason}; by a leak report from {by}")
            } else {
                format!("reason: {reason}; by a leak report from {by} (source: {source})")
            };
            audit::insert(
                conn,
                &audit::NewEvent {
                    account_id: Some(&token.account_id),
                    actor_id: None,
                    actor_email: None,
                    action: "token.revoke",
                    token_id: Some(&token.id),
                    detail: &detail,
                    ip: self
                        .reporter
                        .filter(|r| r.parse::<std::net::IpAddr>().is_ok()),
                },
                now,
            )?;
            messages::queue_token_leaked(
                conn,
                self.base_url,
                &token.account_id,
                &TokenLeaked {
                    token_id: &token.id,
                    name: &token.name,
                    url: if url.is_empty() { "(not given)" } else { &url },
                    source: &source,
                    revoked_at: now,
                    last_used_at: token.last_used_at,
                    last_used_ip: token.last_used_ip.as_deref(),
                },
            )?;
            Ok(true)
        })?;
        if revoked {
            // Names and ids only: the password never reaches a log.
            tracing::warn!(token_id = %token.id, account_id = %token.account_id, "token revoked after a leak report");
        }
        Ok(revoked)
    }
}

/// A reported string as stored and shown: no control characters, at most
/// `MAX_WHERE_CHARS`.
fn printable(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_WHERE_CHARS)
        .collect()
}
