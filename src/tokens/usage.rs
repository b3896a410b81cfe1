//! API calls counted in memory, per token and day, until the recorder writes them in one
//! batch (`db::usage`). A call only takes a lock and bumps a number.

use crate::db::usage::{day_of, DayCount, Tally};
use crate::domain::{AccountId, TokenId};
use chrono::NaiveDateTime;
use std::collections::HashMap;
use std::sync::Mutex;

/// How a call with a known token ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    WrongPassword,
    OutsideNetworks,
    /// The right password of a token that had expired, or been revoked.
    Expired,
    Revoked,
    /// Refused before its password was checked: too many failures from the address.
    Throttled,
}

/// (token, day) pairs held at most: while the database cannot take the batches, counts
/// for pairs already held go on, new ones are dropped rather than grow without bound.
const MAX_HELD: usize = 200_000;

/// One day's counts, by token.
type Day = HashMap<TokenId, (AccountId, Tally)>;

#[derive(Default)]
pub struct UsageCounter {
    /// By day (almost always one or two), then by token.
    days: Mutex<Vec<(NaiveDateTime, Day)>>,
}

/// That day's counts, added if new.
fn day_in(days: &mut Vec<(NaiveDateTime, Day)>, day: NaiveDateTime) -> &mut Day {
    let index = match days.iter().position(|(d, _)| *d == day) {
        Some(index) => index,
        None => {
            days.push((day, HashMap::new()));
            days.len() - 1
        }
    };
    &mut days[index].1
}

impl UsageCounter {
    pub fn count(&self, token: &TokenId, account: &AccountId, at: NaiveDateTime, outcome: Outcome) {
        let day = day_of(at);
        let Ok(mut days) = self.days.lock() else {
            return;
        };
        let held: usize = days.iter().map(|(_, tokens)| tokens.len()).sum();
        let tokens = day_in(&mut days, day);
        let tally = match tokens.get_mut(token.as_str()) {
            Some((_, tally)) => tally,
            None if held >= MAX_HELD => {
                tracing::warn!("API usage counts held in memory are full; a call was not counted");
                return;
            }
            None => {
                &mut tokens
                    .entry(token.clone())
                    .or_insert_with(|| (account.clone(), Tally::default()))
                    .1
            }
        };
        let count = match outcome {
            Outcome::Accepted => &mut tally.accepted,
            Outcome::WrongPassword => &mut tally.wrong_password,
            Outcome::OutsideNetworks => &mut tally.outside_networks,
            Outcome::Expired => &mut tally.expired,
            Outcome::Revoked => &mut tally.revoked,
            Outcome::Throttled => &mut tally.throttled,
        };
        *count += 1;
    }

    /// Everything counted so far, leaving nothing behind.
    pub fn take(&self) -> Vec<DayCount> {
        let Ok(mut days) = self.days.lock() else {
            return Vec::new();
        };
        std::mem::take(&mut *days)
            .into_iter()
            .flat_map(|(day, tokens)| {
                tokens
                    .into_iter()
                    .map(move |(token_id, (account_id, tally))| DayCount {
                        token_id,
                        account_id,
                        day,
                        tally,
                    })
            })
            .collect()
    }

    /// Puts back a batch the database did not take, to go with the next one.
    pub fn restore(&self, rows: Vec<DayCount>) {
        let Ok(mut days) = self.days.lock() else {
            return;
        };
        for row in rows {
            day_in(&mut days, row.day)
                .entry(row.token_id)
                .or_insert_with(|| (row.account_id, Tally::default()))
                .1
                .add(&row.tally);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(day: u32, hour: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, day)
            .and_then(|d| d.and_hms_opt(hour, 30, 0))
            .expect("a valid time")
    }

    #[test]
    fn calls_are_counted_per_token_and_day_and_a_failed_batch_comes_back_whole() {
        let counter = UsageCounter::default();
        let (a, b) = (TokenId::generate(), TokenId::generate());
        let account = AccountId::generate();
        counter.count(&a, &account, at(1, 9), Outcome::Accepted);
        counter.count(&a, &account, at(1, 23), Outcome::Accepted);
        counter.count(&a, &account, at(1, 10), Outcome::WrongPassword);
        counter.count(&a, &account, at(2, 0), Outcome::Revoked);
        counter.count(&b, &account, at(1, 1), Outcome::Throttled);

        let mut batch = counter.take();
        assert!(counter.take().is_empty(), "take leaves nothing behind");
        batch.sort_by(|x, y| (x.day, x.token_id.as_str()).cmp(&(y.day, y.token_id.as_str())));
        let find = |token: &TokenId, day: u32| {
            batch
                .iter()
                .find(|r| &r.token_id == token && r.day == day_of(at(day, 0)))
                .map(|r| r.tally)
        };
        assert_eq!(batch.len(), 3);
        let first = find(&a, 1).expect("a's first day");
        assert_eq!(
            (first.accepted, first.wrong_password, first.refused()),
            (2, 1, 1)
        );
        assert_eq!(
            find(&a, 2).map(|t| (t.revoked, t.after_end())),
            Some((1, 1))
        );
        assert_eq!(find(&b, 1).map(|t| t.throttled), Some(1));

        counter.count(&a, &account, at(1, 12), Outcome::Accepted);
        counter.restore(batch);
        let again = counter.take();
        let first = again
            .iter()
            .find(|r| r.token_id == a && r.day == day_of(at(1, 0)))
            .expect("a's first day again");
        assert_eq!(first.tally.accepted, 3, "restored counts add to new ones");
        assert_eq!(again.len(), 3);
    }
}
