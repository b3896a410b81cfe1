//! The Dashboard's figures for an account — counts by state and expirations per week. For
//! an account held in memory they come from its directory (`tokens::lists`); for one too
//! large to hold they are counted in SQL, and this cache keeps them, so a Dashboard view
//! does not count its tokens every time.
//!
//! An entry is used only while the account's write version is the one it was computed at
//! (every change to the account's tokens bumps it, in any server process), and for about a
//! minute of the clock, since time alone moves tokens from active to expired: one request
//! then recounts while the others use the entry a moment longer.

use crate::db::{accounts, tokens, DbConn};
use crate::domain::AccountId;
use chrono::{Duration, NaiveDateTime};
use diesel::QueryResult;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const SOON_DAYS: i64 = 7;
pub const CHART_WEEKS: i64 = 13;
/// The Dashboard's "Unused for 30 days": no accepted call in the last 30 days.
pub const UNUSED_DAYS: i64 = 30;
const FRESH_FOR_SECONDS: i64 = 60;
/// Bounds memory: when full, the cache starts over.
const MAX_ACCOUNTS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Summary {
    pub counts: tokens::Counts,
    /// The start of each of the next 13 weeks, and how many active tokens expire in it.
    pub weeks: Vec<(NaiveDateTime, i64)>,
}

struct Entry {
    version: i64,
    computed_at: NaiveDateTime,
    summary: Arc<Summary>,
}

#[derive(Default)]
pub struct SummaryCache {
    entries: Mutex<HashMap<AccountId, Entry>>,
}

impl SummaryCache {
    pub fn get(
        &self,
        conn: &mut DbConn,
        account_id: &AccountId,
        now: NaiveDateTime,
    ) -> QueryResult<Arc<Summary>> {
        // Read before counting: a write in between makes the entry stale at once, never
        // the other way round.
        let version = accounts::version(conn, account_id)?;
        if let Some(entry) = self.lock().get_mut(account_id) {
            let age = now - entry.computed_at;
            if entry.version == version && age >= Duration::zero() {
                if age < Duration::seconds(FRESH_FOR_SECONDS) {
                    return Ok(entry.summary.clone());
                }
                // Only time has passed: this request recounts; the others meanwhile keep
                // the summary they have (a few more seconds old) instead of all recounting
                // at once.
                entry.computed_at = now;
            }
        }
        let summary = Arc::new(compute(conn, account_id, now)?);
        let mut entries = self.lock();
        if entries.len() >= MAX_ACCOUNTS {
            entries.clear();
        }
        entries.insert(
            account_id.clone(),
            Entry {
                version,
                computed_at: now,
                summary: summary.clone(),
            },
        );
        Ok(summary)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, Entry>> {
        // The map holds no invariant a panic could break.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where "unused" starts: the first of the last `UNUSED_DAYS` days.
pub fn unused_since(now: NaiveDateTime) -> NaiveDateTime {
    crate::db::usage::window_start(now, UNUSED_DAYS)
}

fn compute(conn: &mut DbConn, account_id: &AccountId, now: NaiveDateTime) -> QueryResult<Summary> {
    let soon = now + Duration::days(SOON_DAYS);
    let counts = tokens::counts(conn, account_id, now, soon, unused_since(now))?;
    let mut weeks = Vec::with_capacity(CHART_WEEKS as usize);
    for week in 0..CHART_WEEKS {
        let from = now + Duration::weeks(week);
        let to = from + Duration::weeks(1);
        weeks.push((
            from,
            tokens::count_expiring_between(conn, account_id, from, to)?,
        ));
    }
    Ok(Summary { counts, weeks })
}
