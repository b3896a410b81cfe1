//! The token lists every page reads — API Tokens, Expired & Revoked, the Dashboard's counts
//! — for an account of any size.
//!
//! An account's tokens are held in memory (`Directory`), current as of the account's write
//! version: every transaction that changes its tokens bumps the version (`accounts::lock`,
//! in any server process) and stamps it on the tokens it changed. A view reads the version
//! (one primary-key read); if it moved, only the tokens changed since are read and merged
//! in. Time needs no reload (see `Directory`).
//!
//! Accounts with more tokens than `MAX_TOKENS` are listed by SQL instead, which bounds the
//! memory; tokens are never deleted, so that is remembered for good.

use super::directory::{Directory, ListedToken};
use super::summary::{unused_since, Summary, SummaryCache, CHART_WEEKS, SOON_DAYS};
use crate::db::tokens::{self, ActiveFilter, InactiveFilter, ListedRow, ShownToken};
use crate::db::{accounts, DbConn};
use crate::domain::AccountId;
use chrono::{Duration, NaiveDateTime};
use diesel::QueryResult;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// About 150 bytes a token: 200,000 tokens are some 30 MiB.
const MAX_TOKENS: usize = 200_000;
/// Across all accounts; when full, the cache starts over.
const MAX_CACHED_TOKENS: usize = 400_000;
/// Rows read per statement when tokens are loaded into memory.
const LOAD_CHUNK: i64 = 5_000;

/// Whose lists: the account, and its write version as the caller read it (a request reads
/// it with its user, see `db::users::AccountState`).
#[derive(Debug, Clone, Copy)]
pub struct AccountAt<'a> {
    pub id: &'a AccountId,
    pub version: i64,
}

enum Cached {
    Held {
        version: i64,
        directory: Arc<Directory>,
    },
    TooLarge,
}

pub struct TokenLists {
    accounts: Mutex<HashMap<AccountId, Cached>>,
    /// One load at a time: after a restart or a change, concurrent views of a large account
    /// wait for the one that loads instead of each reading it.
    loading: Mutex<()>,
    max_tokens: usize,
    /// Counts of the accounts listed by SQL, recounted at most once a minute.
    summaries: SummaryCache,
}

impl Default for TokenLists {
    fn default() -> Self {
        Self::with_max_tokens(MAX_TOKENS)
    }
}

impl TokenLists {
    pub fn with_max_tokens(max_tokens: usize) -> Self {
        TokenLists {
            accounts: Mutex::default(),
            loading: Mutex::default(),
            max_tokens,
            summaries: SummaryCache::default(),
        }
    }

    /// One page of API Tokens matching `filter`, and how many tokens it lists.
    pub fn active_page(
        &self,
        conn: &mut DbConn,
        account: AccountAt<'_>,
        now: NaiveDateTime,
        filter: &ActiveFilter,
        offset: i64,
        limit: i64,
    ) -> QueryResult<(Vec<ShownToken>, i64)> {
        let version = match filter.unused_since {
            Some(_) => last_uses_version(conn, account)?,
            None => account.version,
        };
        match self.directory_at(conn, account.id, version)? {
            Some(directory) => {
                let page = directory.active(now, filter, offset as usize, limit as usize);
                Ok((
                    tokens::rows_in_order(conn, account.id, &page.ids)?,
                    page.total,
                ))
            }
            None => {
                let total = if filter.is_empty() {
                    self.sql_summary(conn, account.id, now)?.counts.active
                } else {
                    tokens::count_active(conn, account.id, now, filter)?
                };
                let rows = tokens::list_active(conn, account.id, now, filter, limit, offset)?;
                Ok((rows, total))
            }
        }
    }

    /// One page of Expired & Revoked matching `filter`, and how many tokens match.
    pub fn inactive_page(
        &self,
        conn: &mut DbConn,
        account: AccountAt<'_>,
        now: NaiveDateTime,
        filter: &InactiveFilter,
        offset: i64,
        limit: i64,
    ) -> QueryResult<(Vec<ShownToken>, i64)> {
        match self.directory_at(conn, account.id, account.version)? {
            Some(directory) => {
                let page = directory.inactive(now, filter, offset as usize, limit as usize);
                Ok((
                    tokens::rows_in_order(conn, account.id, &page.ids)?,
                    page.total,
                ))
            }
            None => {
                let total = if filter.is_empty() {
                    let counts = self.sql_summary(conn, account.id, now)?.counts;
                    counts.expired + counts.revoked
                } else {
                    tokens::count_inactive(conn, account.id, now, filter)?
                };
                let rows = tokens::list_inactive(conn, account.id, now, filter, limit, offset)?;
                Ok((rows, total))
            }
        }
    }

    /// The Dashboard's counts and chart.
    pub fn summary(
        &self,
        conn: &mut DbConn,
        account: AccountAt<'_>,
        now: NaiveDateTime,
    ) -> QueryResult<Summary> {
        let version = last_uses_version(conn, account)?;
        match self.directory_at(conn, account.id, version)? {
            Some(directory) => {
                let starts: Vec<NaiveDateTime> =
                    (0..CHART_WEEKS).map(|w| now + Duration::weeks(w)).collect();
                let soon = now + Duration::days(SOON_DAYS);
                let (counts, per_week) = directory.counts(now, soon, unused_since(now), &starts);
                Ok(Summary {
                    counts,
                    weeks: starts.into_iter().zip(per_week).collect(),
                })
            }
            None => Ok(Summary::clone(&*self.sql_summary(conn, account.id, now)?)),
        }
    }

    fn sql_summary(
        &self,
        conn: &mut DbConn,
        account_id: &AccountId,
        now: NaiveDateTime,
    ) -> QueryResult<Arc<Summary>> {
        self.summaries.get(conn, account_id, now)
    }

    /// The account's directory, current as of its write version now; None for an account
    /// too large to hold (list it by SQL).
    pub fn directory(
        &self,
        conn: &mut DbConn,
        account_id: &AccountId,
    ) -> QueryResult<Option<Arc<Directory>>> {
        let version = accounts::version(conn, account_id)?;
        self.directory_at(conn, account_id, version)
    }

    /// The account's directory, current as of write version `version` or later, which the
    /// caller read before (a request reads it with its user): a write in between makes the
    /// directory stale at once, never the other way round (changes are merged by id, so
    /// reading one twice is harmless).
    pub fn directory_at(
        &self,
        conn: &mut DbConn,
        account_id: &AccountId,
        version: i64,
    ) -> QueryResult<Option<Arc<Directory>>> {
        if let Some(current) = self.current(account_id, version) {
            return Ok(current);
        }
        let _one_at_a_time = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(current) = self.current(account_id, version) {
            return Ok(current);
        }
        let (after, held) = match self.lock().get(account_id) {
            Some(Cached::Held { version, directory }) => (*version, Some(directory.clone())),
            _ => (-1, None),
        };
        let Some(directory) = self.merged(conn, account_id, after, held)? else {
            self.lock().insert(account_id.clone(), Cached::TooLarge);
            return Ok(None);
        };
        let mut accounts = self.lock();
        let held: usize = accounts
            .values()
            .map(|c| match c {
                Cached::Held { directory, .. } => directory.len(),
                Cached::TooLarge => 0,
            })
            .sum();
        if held + directory.len() > MAX_CACHED_TOKENS {
            accounts.clear();
        }
        accounts.insert(
            account_id.clone(),
            Cached::Held {
                version,
                directory: directory.clone(),
            },
        );
        Ok(Some(directory))
    }

    /// `held` (or an empty directory) with the account's tokens changed after version
    /// `after` merged in; None once it holds more than `max_tokens`. The rows come in chunks
    /// of `LOAD_CHUNK`, each merged before the next is read: a first load of 100,000 tokens
    /// never has them all in the database driver's buffer and in rows and in the directory
    /// at once (that peak was 148 MiB on PostgreSQL). A token changed between two chunks
    /// only moves to a later version, so it is read again, never missed.
    fn merged(
        &self,
        conn: &mut DbConn,
        account_id: &AccountId,
        after: i64,
        held: Option<Arc<Directory>>,
    ) -> QueryResult<Option<Arc<Directory>>> {
        let mut directory = held.unwrap_or_default();
        let mut position: Option<(i64, String)> = None;
        loop {
            let from = position
                .as_ref()
                .map(|(version, id)| (*version, id.as_str()));
            let rows = tokens::listed_since(conn, account_id, after, from, LOAD_CHUNK)?;
            let last_chunk = (rows.len() as i64) < LOAD_CHUNK;
            if let Some(last) = rows.last() {
                position = Some((last.changed_version, last.id.clone()));
            }
            let changes: Vec<ListedToken> = rows.into_iter().filter_map(listed).collect();
            if !changes.is_empty() {
                directory = Arc::new(directory.with_changes(changes));
                give_back_freed_memory();
            }
            if directory.len() > self.max_tokens {
                return Ok(None);
            }
            if last_chunk {
                return Ok(Some(directory));
            }
        }
    }

    /// What the cache holds for the account, if it is current as of `version` (a newer
    /// directory, loaded by a later request, serves an earlier one too).
    fn current(&self, account_id: &AccountId, version: i64) -> Option<Option<Arc<Directory>>> {
        match self.lock().get(account_id)? {
            Cached::TooLarge => Some(None),
            Cached::Held {
                version: held,
                directory,
            } if *held >= version => Some(Some(directory.clone())),
            Cached::Held { .. } => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, Cached>> {
        // The map holds no invariant a panic could break.
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A first load rebuilds the directory once per chunk: each copy it replaces is freed into
/// this thread's heap, where it stays until mimalloc purges it, which an idle blocking
/// thread may not do for a while. (After a merge the old copy is still held by the cache
/// and by readers; it is freed where the last of them lets go.) The first load of 100,000 tokens under a burst
/// of page views peaked at 122–141 MiB with them kept (bench/RESULTS.md). Under another
/// allocator (the tests') this does nothing.
fn give_back_freed_memory() {
    // SAFETY: `mi_collect` only returns this thread's free pages to the OS; any thread may
    // call it at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// The version to read last uses at. A use on a new day stamps its token under the
/// account's next version (`db::uses::stamp_new_days`) without emptying the check cache
/// (it changes nothing a check reads), so a sign-in claim cached on PostgreSQL may hold an
/// older version: what shows last uses reads the account's row (one primary-key read).
fn last_uses_version(conn: &mut DbConn, account: AccountAt<'_>) -> QueryResult<i64> {
    Ok(account.version.max(accounts::version(conn, account.id)?))
}

/// A row as the directory holds it; every id is a UUID (`db::new_id`).
fn listed(row: ListedRow) -> Option<ListedToken> {
    Some(ListedToken {
        id: row.id.parse().ok()?,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        creator_id: row.created_by,
        creator_email: row.created_by_email,
        name: row.name,
        username: row.username,
        description: row.description,
        last_used_at: row.last_used_at,
    })
}
