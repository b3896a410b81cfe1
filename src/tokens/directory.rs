//! The API Tokens list of an account, held in memory: its active tokens in list order with
//! the text a search looks in. Page 500 is then a slice and a search a scan of memory, not
//! an OFFSET over 12,000 index entries or a LIKE over 70,000 rows.
//!
//! A directory is used only while the account's write version is the one it was loaded at
//! (every change to the account's tokens bumps it, in any server process). Time needs no
//! reload: a token whose expiry has passed is skipped by a binary search on the expiry.
//! Accounts with more active tokens than `MAX_TOKENS` are listed by SQL instead, which
//! bounds the memory; that is remembered per version, so such an account is not loaded
//! again on every view.

use crate::db::schema::api_tokens;
use crate::db::{accounts, DbConn};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// About 150 bytes a token: 200,000 tokens are some 30 MiB.
const MAX_TOKENS: usize = 200_000;
/// Across all accounts; when full, the cache starts over.
const MAX_CACHED_TOKENS: usize = 400_000;

struct Entry {
    expires_at: NaiveDateTime,
    id: String,
    /// Where this token's text starts in `Directory::text`.
    start: usize,
}

/// What `Directory::new` is given for each token.
struct Token {
    expires_at: NaiveDateTime,
    id: String,
    /// Name, username and description.
    fields: [String; 3],
}

pub struct Directory {
    /// Sorted by (expires_at, id), as the list shows them.
    entries: Vec<Entry>,
    /// Every token's name, username and description, lower-cased, in `entries` order, each
    /// field followed by a newline: a search holds no control character, so no match spans
    /// two fields, and one buffer is scanned at memory speed.
    text: String,
}

/// A page of the list: its token ids in order, and how many tokens match in all.
#[derive(Debug, PartialEq, Eq)]
pub struct Page {
    pub ids: Vec<String>,
    pub total: i64,
}

impl Directory {
    fn new(mut tokens: Vec<Token>) -> Self {
        tokens.sort_by(|a, b| (a.expires_at, &a.id).cmp(&(b.expires_at, &b.id)));
        let mut text = String::new();
        let entries = tokens
            .into_iter()
            .map(|token| {
                let start = text.len();
                for field in &token.fields {
                    text.push_str(&field.to_lowercase());
                    text.push('\n');
                }
                Entry {
                    expires_at: token.expires_at,
                    id: token.id,
                    start,
                }
            })
            .collect();
        Directory { entries, text }
    }

    /// The index of the first token still active at `now`.
    fn first_active(&self, now: NaiveDateTime) -> usize {
        self.entries.partition_point(|e| e.expires_at <= now)
    }

    /// One page of the active tokens, optionally only those whose name, username or
    /// description contains `search` (any case).
    pub fn page(
        &self,
        now: NaiveDateTime,
        search: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Page {
        let first = self.first_active(now);
        let Some(search) = search else {
            let active = &self.entries[first..];
            return Page {
                ids: active
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .map(|e| e.id.clone())
                    .collect(),
                total: active.len() as i64,
            };
        };
        let needle = search.to_lowercase();
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        let text = self.text.as_bytes();
        let (mut total, mut ids) = (0, Vec::with_capacity(limit));
        let mut from = self.entries.get(first).map_or(text.len(), |e| e.start);
        while let Some(found) = finder.find(&text[from..]) {
            // The token whose text holds the match; then on to the next token.
            let index = self.entries.partition_point(|e| e.start <= from + found) - 1;
            if total >= offset && ids.len() < limit {
                ids.push(self.entries[index].id.clone());
            }
            total += 1;
            from = self.entries.get(index + 1).map_or(text.len(), |e| e.start);
        }
        Page {
            ids,
            total: total as i64,
        }
    }
}

struct Cached {
    version: i64,
    /// None: the account was too large at this version (so it is not loaded again).
    directory: Option<Arc<Directory>>,
}

pub struct DirectoryCache {
    entries: Mutex<HashMap<String, Cached>>,
    /// Accounts with more active tokens are listed by SQL.
    max_tokens: usize,
}

impl Default for DirectoryCache {
    fn default() -> Self {
        Self::with_max_tokens(MAX_TOKENS)
    }
}

impl DirectoryCache {
    pub fn with_max_tokens(max_tokens: usize) -> Self {
        DirectoryCache {
            entries: Mutex::default(),
            max_tokens,
        }
    }

    /// The account's directory, loading it if it changed; None for an account too large to
    /// hold (list it by SQL).
    pub fn get(
        &self,
        conn: &mut DbConn,
        account_id: &str,
        now: NaiveDateTime,
    ) -> QueryResult<Option<Arc<Directory>>> {
        // Read before loading: a write in between makes the directory stale at once, never
        // the other way round.
        let version = accounts::version(conn, account_id)?;
        if let Some(cached) = self.lock().get(account_id) {
            if cached.version == version {
                return Ok(cached.directory.clone());
            }
        }
        let directory = load(conn, account_id, now, self.max_tokens)?.map(Arc::new);
        let size = |d: &Option<Arc<Directory>>| d.as_ref().map_or(0, |d| d.entries.len());
        let mut entries = self.lock();
        entries.remove(account_id);
        let held: usize = entries.values().map(|c| size(&c.directory)).sum();
        if held + size(&directory) > MAX_CACHED_TOKENS {
            entries.clear();
        }
        entries.insert(
            account_id.to_string(),
            Cached {
                version,
                directory: directory.clone(),
            },
        );
        Ok(directory)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        // The map holds no invariant a panic could break.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The account's active tokens, or None if there are more than `max_tokens`.
fn load(
    conn: &mut DbConn,
    account_id: &str,
    now: NaiveDateTime,
    max_tokens: usize,
) -> QueryResult<Option<Directory>> {
    let rows: Vec<(String, NaiveDateTime, String, String, String)> = api_tokens::table
        .filter(api_tokens::account_id.eq(account_id))
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.gt(now))
        .select((
            api_tokens::id,
            api_tokens::expires_at,
            api_tokens::name,
            api_tokens::username,
            api_tokens::description,
        ))
        .limit(max_tokens as i64 + 1)
        .load(conn)?;
    if rows.len() > max_tokens {
        return Ok(None);
    }
    let tokens = rows
        .into_iter()
        .map(|(id, expires_at, name, username, description)| Token {
            expires_at,
            id,
            fields: [name, username, description],
        })
        .collect();
    Ok(Some(Directory::new(tokens)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    fn at(day: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 1, day)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
    }

    fn directory() -> Directory {
        let entry = |id: &str, day: u32, name: &str| Token {
            expires_at: at(day),
            id: id.into(),
            fields: [name.into(), format!("tok_{id}"), String::new()],
        };
        Directory::new(vec![
            entry("d", 9, "Nightly Export"),
            entry("b", 5, "Billing"),
            entry("a", 5, "Nightly import"),
            entry("c", 7, "Reports"),
        ])
    }

    #[test]
    fn pages_follow_expiry_then_id_and_skip_what_has_expired() {
        let d = directory();
        let page = d.page(at(1), None, 0, 2);
        assert_eq!(page.ids, ["a", "b"]);
        assert_eq!(page.total, 4);
        assert_eq!(d.page(at(1), None, 2, 2).ids, ["c", "d"]);
        assert!(d.page(at(1), None, 4, 2).ids.is_empty());
        // At the very moment of expiry a token is no longer active.
        let later = d.page(at(5), None, 0, 10);
        assert_eq!((later.ids, later.total), (vec!["c".into(), "d".into()], 2));
        assert_eq!(d.page(at(7) - Duration::seconds(1), None, 0, 10).total, 2);
    }

    #[test]
    fn search_ignores_case_counts_all_matches_and_pages_them() {
        let d = directory();
        let page = d.page(at(1), Some("NIGHTLY"), 0, 1);
        assert_eq!((page.ids, page.total), (vec!["a".into()], 2));
        assert_eq!(d.page(at(1), Some("nightly"), 1, 1).ids, ["d"]);
        assert_eq!(d.page(at(1), Some("tok_c"), 0, 10).ids, ["c"]);
        // No match spans two fields (a search holds no control character).
        assert_eq!(d.page(at(1), Some("reportstok"), 0, 10).total, 0);
        assert_eq!(d.page(at(6), Some("nightly"), 0, 10).ids, ["d"]);
    }
}
