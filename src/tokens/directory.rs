//! The token lists of one account, held in memory: every token (active, expired and
//! revoked) in one array, with the text a search looks in. A page of API Tokens or of
//! Expired & Revoked, at any depth, is then a slice; a search or filter is a scan of memory,
//! not an OFFSET over thousands of index entries or a LIKE over the account's rows.
//!
//! One order serves both lists. Tokens are sorted by when they stop working (revocation, or
//! else expiry), latest first. At any moment the active tokens are exactly those that stop
//! working after now: a prefix of the array, found by a binary search, so time needs no
//! reload. API Tokens lists that prefix backwards (soonest expiry first); Expired & Revoked
//! lists the rest as it stands (most recently ended first). This works because a token never
//! comes back, and a revocation is never dated ahead.

use crate::db::tokens::{ActiveFilter, Counts, Ended, InactiveFilter};
use crate::domain::TokenId;
use chrono::{Duration, NaiveDateTime};
use memchr::memmem;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Mutex;
use uuid::Uuid;

/// A token as the lists need it (the rows shown are read by id when a page is drawn).
#[derive(Debug, Clone)]
pub struct ListedToken {
    pub id: Uuid,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub creator_id: String,
    pub creator_email: String,
    pub name: String,
    pub username: String,
    pub description: String,
    pub last_used_at: Option<NaiveDateTime>,
}

impl ListedToken {
    fn ended_at(&self) -> NaiveDateTime {
        self.revoked_at.unwrap_or(self.expires_at)
    }
}

struct Entry {
    id: Uuid,
    expires_at: NaiveDateTime,
    revoked_at: Option<NaiveDateTime>,
    /// Current to the day: a use on a later day than the one stored stamps the token as
    /// changed (`db::uses::stamp_new_days`).
    last_used_at: Option<NaiveDateTime>,
    /// Index into `Directory::creators`.
    creator: u32,
    /// Where this token's text starts in `Directory::text`.
    start: usize,
}

impl Entry {
    fn ended_at(&self) -> NaiveDateTime {
        self.revoked_at.unwrap_or(self.expires_at)
    }

    /// No accepted call since `since` (never used counts as unused).
    fn unused_since(&self, since: NaiveDateTime) -> bool {
        self.last_used_at.is_none_or(|at| at < since)
    }

    /// The array's order: latest end first, then the larger id (as SQL orders them).
    fn key(&self) -> (std::cmp::Reverse<NaiveDateTime>, std::cmp::Reverse<Uuid>) {
        (
            std::cmp::Reverse(self.ended_at()),
            std::cmp::Reverse(self.id),
        )
    }
}

/// A creator of tokens: the user id and the lower-cased e-mail a filter looks in.
struct Creator {
    id: String,
    email: String,
}

#[derive(Default)]
pub struct Directory {
    entries: Vec<Entry>,
    /// Every token's name, username and description, lower-cased, in `entries` order, each
    /// field followed by a newline: a search holds no control character, so no match spans
    /// two fields, and one buffer is scanned at memory speed.
    text: String,
    creators: Vec<Creator>,
    revoked: usize,
    /// `revoked_before[i]`: how many of `entries[..i]` are revoked. A page of only revoked
    /// (or only expired) tokens is then found by binary search, however deep.
    revoked_before: Vec<u32>,
    /// The last unused count, for (its `unused_since`, the active count): the Dashboard
    /// asks on every view, and the answer moves only when one of the two does.
    unused_memo: Mutex<Option<(NaiveDateTime, usize, i64)>>,
}

/// A page of a list: its token ids in order, and how many tokens the list holds.
#[derive(Debug, PartialEq, Eq)]
pub struct Page {
    pub ids: Vec<TokenId>,
    pub total: i64,
}

/// Collects one page of a list while counting all of it.
struct PageCollector {
    offset: usize,
    limit: usize,
    seen: usize,
    ids: Vec<TokenId>,
}

impl PageCollector {
    fn new(offset: usize, limit: usize) -> Self {
        Self {
            offset,
            limit,
            seen: 0,
            ids: Vec::with_capacity(limit.min(100)),
        }
    }

    fn push(&mut self, id: Uuid) {
        if self.seen >= self.offset && self.ids.len() < self.limit {
            self.ids.push(TokenId::from(id.to_string()));
        }
        self.seen += 1;
    }

    fn finish(self) -> Page {
        Page {
            ids: self.ids,
            total: self.seen as i64,
        }
    }
}

impl Directory {
    /// A directory of these tokens.
    pub fn new(tokens: Vec<ListedToken>) -> Self {
        Directory::default().with_changes(tokens)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// This directory with `changes` applied: each replaces the token of its id, or adds
    /// one. A merge of two sorted runs, copying the text it keeps.
    pub fn with_changes(&self, mut changes: Vec<ListedToken>) -> Self {
        changes.sort_by_key(|t| (std::cmp::Reverse(t.ended_at()), std::cmp::Reverse(t.id)));
        changes.dedup_by_key(|t| t.id);
        let changed: HashSet<Uuid> = changes.iter().map(|t| t.id).collect();
        let mut next = Builder::new(self, changes.len());
        let mut kept = (0..self.entries.len())
            .filter(|&i| !changed.contains(&self.entries[i].id))
            .peekable();
        let mut added = changes.into_iter().peekable();
        loop {
            let take_kept = match (kept.peek(), added.peek()) {
                (Some(&i), Some(token)) => {
                    self.entries[i].key()
                        < (
                            std::cmp::Reverse(token.ended_at()),
                            std::cmp::Reverse(token.id),
                        )
                }
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_kept {
                let i = kept.next().expect("peeked");
                next.keep(self, i);
            } else {
                next.add(added.next().expect("peeked"));
            }
        }
        next.finish()
    }

    /// How many tokens are active at `now`: they are the array's first ones.
    fn active_count(&self, now: NaiveDateTime) -> usize {
        self.entries.partition_point(|e| e.ended_at() > now)
    }

    /// Where entry `i`'s text ends.
    fn end_of(&self, i: usize) -> usize {
        self.entries.get(i + 1).map_or(self.text.len(), |e| e.start)
    }

    /// The entry whose text holds byte `at`.
    fn entry_at(&self, at: usize) -> usize {
        self.entries.partition_point(|e| e.start <= at) - 1
    }

    /// One page of the active tokens matching `filter`, soonest expiry first: those whose
    /// name, username or description contains its search (any case), and those unused
    /// since its `unused_since`.
    pub fn active(
        &self,
        now: NaiveDateTime,
        filter: &ActiveFilter,
        offset: usize,
        limit: usize,
    ) -> Page {
        let active = self.active_count(now);
        if filter.is_empty() {
            // The list is the array's active prefix, read backwards: a slice at any depth.
            let end = active.saturating_sub(offset);
            let start = end.saturating_sub(limit);
            return Page {
                ids: self.entries[start..end]
                    .iter()
                    .rev()
                    .map(|e| TokenId::from(e.id.to_string()))
                    .collect(),
                total: active as i64,
            };
        }
        let wanted = |i: usize| {
            filter
                .unused_since
                .is_none_or(|since| self.entries[i].unused_since(since))
        };
        // Forwards through the active prefix (memchr's forward search is the fast one),
        // noting the matches; the list is their reverse.
        let mut matches = Vec::new();
        match filter.search.as_deref() {
            Some(search) => {
                let end = self
                    .entries
                    .get(active)
                    .map_or(self.text.len(), |e| e.start);
                self.scan(search, 0..end, |i| {
                    if wanted(i) {
                        matches.push(i)
                    }
                });
            }
            None => matches.extend((0..active).filter(|&i| wanted(i))),
        }
        Page {
            ids: matches
                .iter()
                .rev()
                .skip(offset)
                .take(limit)
                .map(|&i| TokenId::from(self.entries[i].id.to_string()))
                .collect(),
            total: matches.len() as i64,
        }
    }

    /// Calls `found` with each token whose text in `bytes` holds `search` (any case), in
    /// array order.
    fn scan(&self, search: &str, bytes: std::ops::Range<usize>, mut found: impl FnMut(usize)) {
        let needle = search.to_lowercase();
        let finder = memmem::Finder::new(needle.as_bytes());
        let text = &self.text.as_bytes()[..bytes.end];
        let mut from = bytes.start;
        while let Some(at) = finder.find(&text[from..]) {
            let i = self.entry_at(from + at);
            found(i);
            from = self.end_of(i);
        }
    }

    /// One page of the revoked (or of the expired) tokens in `range`: the page's first
    /// entry is the one with `offset` matching entries before it, found by binary search
    /// over the prefix counts, so a deep page costs what the first does.
    fn ended_page(&self, range: Range<usize>, ended: Ended, offset: usize, limit: usize) -> Page {
        let revoked = matches!(ended, Ended::Revoked);
        let revoked_in =
            |end: usize| (self.revoked_before[end] - self.revoked_before[range.start]) as usize;
        let matching_before = |end: usize| match ended {
            Ended::Revoked => revoked_in(end),
            Ended::Expired => (end - range.start) - revoked_in(end),
        };
        let (mut first, mut past) = (range.start, range.end);
        while first < past {
            let mid = first + (past - first) / 2;
            if matching_before(mid + 1) <= offset {
                first = mid + 1;
            } else {
                past = mid;
            }
        }
        Page {
            ids: self.entries[first..range.end]
                .iter()
                .filter(|e| e.revoked_at.is_some() == revoked)
                .take(limit)
                .map(|e| TokenId::from(e.id.to_string()))
                .collect(),
            total: matching_before(range.end) as i64,
        }
    }

    /// One page of the expired and revoked tokens matching `filter`, most recently ended
    /// first.
    pub fn inactive(
        &self,
        now: NaiveDateTime,
        filter: &InactiveFilter,
        offset: usize,
        limit: usize,
    ) -> Page {
        // Ended in [from, before): a range of the array, found by binary search.
        let first = self
            .active_count(now)
            .max(filter.before.map_or(0, |before| {
                self.entries.partition_point(|e| e.ended_at() >= before)
            }));
        let last = filter.from.map_or(self.entries.len(), |from| {
            self.entries.partition_point(|e| e.ended_at() >= from)
        });
        let range = first..last.max(first);
        let creators = filter.creator.as_deref().map(|part| {
            let part = part.to_lowercase();
            self.creators
                .iter()
                .map(|c| c.email.contains(&part))
                .collect::<Vec<bool>>()
        });
        let wanted = |e: &Entry| {
            let status = match filter.ended {
                Some(Ended::Revoked) => e.revoked_at.is_some(),
                Some(Ended::Expired) => e.revoked_at.is_none(),
                None => true,
            };
            status
                && creators
                    .as_ref()
                    .is_none_or(|matching| matching[e.creator as usize])
        };
        let mut page = PageCollector::new(offset, limit);
        match filter.text.as_deref() {
            None if creators.is_none() && filter.ended.is_some() => {
                let ended = filter.ended.expect("checked just above");
                return self.ended_page(range, ended, offset, limit);
            }
            None if filter.ended.is_none() && creators.is_none() => {
                let entries = &self.entries[range.clone()];
                return Page {
                    ids: entries
                        .iter()
                        .skip(offset)
                        .take(limit)
                        .map(|e| TokenId::from(e.id.to_string()))
                        .collect(),
                    total: entries.len() as i64,
                };
            }
            None => self.entries[range]
                .iter()
                .filter(|e| wanted(e))
                .for_each(|e| page.push(e.id)),
            Some(text) => {
                let bytes = match (self.entries.get(range.start), range.end.checked_sub(1)) {
                    (Some(first), Some(last)) if !range.is_empty() => {
                        first.start..self.end_of(last)
                    }
                    _ => 0..0,
                };
                self.scan(text, bytes, |i| {
                    if wanted(&self.entries[i]) {
                        page.push(self.entries[i].id);
                    }
                });
            }
        }
        page.finish()
    }

    /// The Dashboard's counts at `now`, with `soon` the end of "expiring soon", and how many
    /// active tokens expire in each week of `weeks` (their starts): binary searches, not
    /// counts.
    pub fn counts(
        &self,
        now: NaiveDateTime,
        soon: NaiveDateTime,
        unused_since: NaiveDateTime,
        weeks: &[NaiveDateTime],
    ) -> (Counts, Vec<i64>) {
        let active = self.active_count(now);
        // Active tokens expiring after `at` (for `at` ≥ now): a prefix of the active ones.
        let after =
            |at: NaiveDateTime| self.entries[..active].partition_point(|e| e.expires_at > at);
        let counts = Counts {
            active: active as i64,
            expiring_soon: (active - after(soon)) as i64,
            expired: (self.entries.len() - active - self.revoked) as i64,
            revoked: self.revoked as i64,
            unused: self.unused(active, unused_since),
        };
        let per_week = weeks
            .iter()
            .map(|&start| (after(start) - after(start + Duration::weeks(1))) as i64)
            .collect();
        (counts, per_week)
    }

    /// How many of the `active` first entries (the active tokens) are unused since `since`.
    fn unused(&self, active: usize, since: NaiveDateTime) -> i64 {
        let mut memo = self.unused_memo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, of, unused)) = *memo {
            if (at, of) == (since, active) {
                return unused;
            }
        }
        let unused = self.entries[..active]
            .iter()
            .filter(|e| e.unused_since(since))
            .count() as i64;
        *memo = Some((since, active, unused));
        unused
    }
}

/// Builds the next directory from kept entries and added tokens, in order.
struct Builder {
    entries: Vec<Entry>,
    text: String,
    creators: Vec<Creator>,
    creator_index: HashMap<String, u32>,
    revoked: usize,
    revoked_before: Vec<u32>,
}

impl Builder {
    fn new(from: &Directory, added: usize) -> Self {
        Builder {
            entries: Vec::with_capacity(from.entries.len() + added),
            text: String::with_capacity(from.text.len() + added * 100),
            creator_index: from
                .creators
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id.clone(), i as u32))
                .collect(),
            creators: from
                .creators
                .iter()
                .map(|c| Creator {
                    id: c.id.clone(),
                    email: c.email.clone(),
                })
                .collect(),
            revoked: 0,
            revoked_before: {
                let mut counts = Vec::with_capacity(from.entries.len() + added + 1);
                counts.push(0);
                counts
            },
        }
    }

    fn push(&mut self, mut entry: Entry) {
        self.revoked += usize::from(entry.revoked_at.is_some());
        self.revoked_before.push(self.revoked as u32);
        entry.start = self.text.len();
        self.entries.push(entry);
    }

    fn keep(&mut self, from: &Directory, i: usize) {
        let old = &from.entries[i];
        let text = &from.text[old.start..from.end_of(i)];
        self.push(Entry {
            id: old.id,
            expires_at: old.expires_at,
            revoked_at: old.revoked_at,
            last_used_at: old.last_used_at,
            creator: old.creator,
            start: 0,
        });
        self.text.push_str(text);
    }

    fn add(&mut self, token: ListedToken) {
        let next = self.creators.len() as u32;
        let creator = *self
            .creator_index
            .entry(token.creator_id.clone())
            .or_insert(next);
        if creator == next {
            self.creators.push(Creator {
                id: token.creator_id,
                email: token.creator_email.to_lowercase(),
            });
        }
        self.push(Entry {
            id: token.id,
            expires_at: token.expires_at,
            revoked_at: token.revoked_at,
            last_used_at: token.last_used_at,
            creator,
            start: 0,
        });
        for field in [&token.name, &token.username, &token.description] {
            self.text.push_str(&field.to_lowercase());
            self.text.push('\n');
        }
    }

    fn finish(self) -> Directory {
        Directory {
            entries: self.entries,
            text: self.text,
            creators: self.creators,
            revoked: self.revoked,
            revoked_before: self.revoked_before,
            unused_memo: Mutex::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(day: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 1, day)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
    }

    fn id(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    fn token(n: u8, expires: u32, revoked: Option<u32>, name: &str, creator: &str) -> ListedToken {
        ListedToken {
            id: id(n),
            expires_at: at(expires),
            revoked_at: revoked.map(at),
            creator_id: creator.into(),
            creator_email: format!("{creator}@Example.test"),
            name: name.into(),
            username: format!("tok_{n}"),
            description: String::new(),
            last_used_at: None,
        }
    }

    fn search(text: &str) -> ActiveFilter {
        ActiveFilter {
            search: Some(text.into()),
            ..ActiveFilter::default()
        }
    }

    fn ids(page: &Page) -> Vec<Uuid> {
        page.ids
            .iter()
            .map(|s| s.as_str().parse().unwrap())
            .collect()
    }

    fn directory() -> Directory {
        Directory::new(vec![
            token(4, 9, None, "Nightly Export", "ann"),
            token(2, 5, None, "Billing", "bob"),
            token(1, 5, None, "Nightly import", "ann"),
            token(3, 7, None, "Reports", "bob"),
            // Ended before day 1: expired on day 1's eve, revoked on day 2 of a 20-day token.
            token(5, 1, None, "Old nightly", "ann"),
            token(6, 20, Some(2), "Leaked", "bob"),
        ])
    }

    #[test]
    fn the_active_list_follows_expiry_then_id_and_loses_what_expires() {
        let d = directory();
        let page = d.active(at(3), &ActiveFilter::default(), 0, 2);
        assert_eq!((ids(&page), page.total), (vec![id(1), id(2)], 4));
        assert_eq!(
            ids(&d.active(at(3), &ActiveFilter::default(), 2, 2)),
            [id(3), id(4)]
        );
        assert!(d
            .active(at(3), &ActiveFilter::default(), 4, 2)
            .ids
            .is_empty());
        // At the very moment of expiry a token is no longer active.
        let later = d.active(at(5), &ActiveFilter::default(), 0, 10);
        assert_eq!((ids(&later), later.total), (vec![id(3), id(4)], 2));
        assert_eq!(
            d.active(
                at(7) - Duration::seconds(1),
                &ActiveFilter::default(),
                0,
                10
            )
            .total,
            2
        );
    }

    #[test]
    fn search_ignores_case_counts_all_matches_and_pages_them() {
        let d = directory();
        let page = d.active(at(3), &search("NIGHTLY"), 0, 1);
        assert_eq!((ids(&page), page.total), (vec![id(1)], 2));
        assert_eq!(ids(&d.active(at(3), &search("nightly"), 1, 1)), [id(4)]);
        assert_eq!(ids(&d.active(at(3), &search("tok_3"), 0, 10)), [id(3)]);
        // No match spans two fields (a search holds no control character).
        assert_eq!(d.active(at(3), &search("reportstok"), 0, 10).total, 0);
        assert_eq!(ids(&d.active(at(6), &search("nightly"), 0, 10)), [id(4)]);
    }

    #[test]
    fn the_inactive_list_is_most_recently_ended_first_and_grows_with_time() {
        let d = directory();
        let all = InactiveFilter::default();
        let page = d.inactive(at(3), &all, 0, 10);
        assert_eq!((ids(&page), page.total), (vec![id(6), id(5)], 2));
        // Day 5: tokens 1 and 2 expired, the larger id first.
        assert_eq!(
            ids(&d.inactive(at(5), &all, 0, 10)),
            [id(2), id(1), id(6), id(5)]
        );
        assert_eq!(ids(&d.inactive(at(5), &all, 1, 2)), [id(1), id(6)]);
    }

    #[test]
    fn inactive_filters_combine_status_dates_creator_and_text() {
        let d = directory();
        let now = at(6);
        let filter = |f: InactiveFilter| ids(&d.inactive(now, &f, 0, 10));
        let revoked = InactiveFilter {
            ended: Some(Ended::Revoked),
            ..Default::default()
        };
        assert_eq!(filter(revoked), [id(6)]);
        let expired = InactiveFilter {
            ended: Some(Ended::Expired),
            ..Default::default()
        };
        assert_eq!(filter(expired), [id(2), id(1), id(5)]);
        let dates = InactiveFilter {
            from: Some(at(2)),
            before: Some(at(5)),
            ..Default::default()
        };
        assert_eq!(filter(dates), [id(6)]);
        let by_ann = InactiveFilter {
            creator: Some("ANN@".into()),
            ..Default::default()
        };
        assert_eq!(filter(by_ann), [id(1), id(5)]);
        let text = InactiveFilter {
            text: Some("nightly".into()),
            creator: Some("ann".into()),
            ..Default::default()
        };
        assert_eq!(filter(text.clone()), [id(1), id(5)]);
        assert_eq!(d.inactive(now, &text, 1, 10).ids.len(), 1);
        assert_eq!(d.inactive(now, &text, 1, 10).total, 2);
    }

    #[test]
    fn changes_replace_tokens_by_id_and_add_new_ones_in_order() {
        let d = directory();
        let revoked_now = token(3, 7, Some(3), "Reports", "bob");
        let added = token(7, 30, None, "Fresh", "cyd");
        let d = d.with_changes(vec![revoked_now, added]);
        assert_eq!(d.len(), 7);
        assert_eq!(
            ids(&d.active(at(4), &ActiveFilter::default(), 0, 10)),
            [id(1), id(2), id(4), id(7)]
        );
        assert_eq!(
            ids(&d.inactive(at(4), &InactiveFilter::default(), 0, 10)),
            [id(3), id(6), id(5)]
        );
        // The text moved with its token, and the new creator can be filtered on.
        assert_eq!(ids(&d.active(at(4), &search("fresh"), 0, 10)), [id(7)]);
        let by_cyd = InactiveFilter {
            creator: Some("cyd".into()),
            ..Default::default()
        };
        assert_eq!(d.inactive(at(31), &by_cyd, 0, 10).total, 1);
    }

    #[test]
    fn counts_and_weeks_come_from_binary_searches() {
        let d = directory();
        let weeks = [at(3), at(10)];
        let (counts, per_week) = d.counts(at(3), at(6), at(1), &weeks);
        assert_eq!(
            (
                counts.active,
                counts.expiring_soon,
                counts.expired,
                counts.revoked
            ),
            (4, 2, 1, 1)
        );
        assert_eq!(per_week, [4, 0]);
        assert_eq!(counts.unused, 4, "none was ever used");
    }

    #[test]
    fn unused_tokens_are_those_without_a_use_since_the_day_asked_and_combine_with_search() {
        let used = |n, name, day: Option<u32>| ListedToken {
            last_used_at: day.map(|d| at(d) + Duration::hours(23)),
            ..token(n, 20, None, name, "ann")
        };
        let d = Directory::new(vec![
            used(1, "never", None),
            used(2, "old nightly", Some(2)),
            used(3, "fresh nightly", Some(9)),
            used(4, "edge", Some(8)),
            ListedToken {
                last_used_at: None,
                ..token(5, 3, Some(2), "revoked, never used", "ann")
            },
        ]);
        let unused_since = |day| ActiveFilter {
            unused_since: Some(at(day)),
            ..ActiveFilter::default()
        };
        let now = at(10);
        let mut listed = ids(&d.active(now, &unused_since(9), 0, 10));
        listed.sort();
        assert_eq!(
            listed,
            [id(1), id(2), id(4)],
            "a use on day 8 is before day 9"
        );
        let mut listed = ids(&d.active(now, &unused_since(8), 0, 10));
        listed.sort();
        assert_eq!(
            listed,
            [id(1), id(2)],
            "a use late on day 8 counts for day 8"
        );
        let both = ActiveFilter {
            search: Some("nightly".into()),
            ..unused_since(9)
        };
        assert_eq!(ids(&d.active(now, &both, 0, 10)), [id(2)]);
        let (counts, _) = d.counts(now, now, at(9), &[]);
        assert_eq!(counts.unused, 3, "the revoked token is not counted");
        let (counts, _) = d.counts(now, now, at(8), &[]);
        assert_eq!(counts.unused, 2, "the memo follows the day asked");
    }

    #[test]
    fn a_page_of_one_status_is_the_same_found_by_counts_as_by_scanning() {
        // 60 ended tokens, revoked and expired mixed unevenly, ending on days 1..=20.
        let tokens: Vec<ListedToken> = (1..=60u8)
            .map(|n| {
                let day = 1 + u32::from(n) % 20;
                let revoked = (n % 3 == 0 || n % 7 == 0).then_some(day);
                token(
                    n,
                    if revoked.is_some() { 25 } else { day },
                    revoked,
                    "t",
                    "ann",
                )
            })
            .collect();
        let d = Directory::new(tokens);
        let now = at(26);
        for ended in [Ended::Revoked, Ended::Expired] {
            for (from, before) in [
                (None, None),
                (Some(at(4)), Some(at(15))),
                (Some(at(9)), None),
            ] {
                let filter = InactiveFilter {
                    ended: Some(ended),
                    from,
                    before,
                    ..Default::default()
                };
                // The same list through the general scan (a creator filter everyone matches).
                let scanned = InactiveFilter {
                    creator: Some("ann".into()),
                    ..filter.clone()
                };
                for offset in 0..45 {
                    assert_eq!(
                        d.inactive(now, &filter, offset, 7),
                        d.inactive(now, &scanned, offset, 7),
                        "{ended:?} {from:?}..{before:?} offset {offset}"
                    );
                }
            }
        }
    }
}
