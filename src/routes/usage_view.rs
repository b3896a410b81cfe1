//! A token's calls over the last 30 days, as its page shows them: the totals, the refusals
//! by reason, and a bar a day drawn as SVG on the server, with a table as its text
//! alternative.

use super::token_view::TokenView;
use crate::db::usage::{self, Tally};
use crate::db::usage_totals;
use crate::db::DbConn;
use chrono::{Duration, NaiveDateTime};

/// Days the token page shows, today included: API Tokens' window too.
pub const DAYS_SHOWN: i64 = usage_totals::CALLS_DAYS;

/// Fills in each listed token's calls in the lists' windows: one primary-key read per
/// token on the page, whatever the size of the account (see `db::usage_totals`).
pub fn fill_calls(conn: &mut DbConn, tokens: &mut [TokenView]) -> diesel::QueryResult<()> {
    let ids: Vec<_> = tokens.iter().map(|t| &t.id).collect();
    let totals = usage_totals::of(conn, &ids)?;
    for token in tokens {
        if let Some(totals) = totals.get(token.id.as_str()) {
            token.calls = *totals;
        }
    }
    Ok(())
}

pub struct UsageView {
    pub total: Tally,
    /// Oldest first, one for each of the days shown, with or without calls.
    pub days: Vec<UsageDay>,
    pub width: i64,
    pub height: i64,
    /// The busiest day's calls.
    pub max: i64,
    pub axis_y: i64,
    pub label_y: i64,
    pub bar_width: i64,
}

pub struct UsageDay {
    pub label: String,
    pub date: String,
    pub tally: Tally,
    pub x: i64,
    pub label_x: i64,
    pub show_label: bool,
    /// The accepted calls' bar, and the refused ones' stacked on it.
    pub accepted: Span,
    pub refused: Span,
}

pub struct Span {
    pub y: i64,
    pub height: i64,
}

const PLOT_HEIGHT: i64 = 120;
const TOP: i64 = 10;
const BAR_WIDTH: i64 = 14;
const GAP: i64 = 6;

impl UsageView {
    /// From the stored days (oldest first, days without calls absent).
    pub fn new(stored: &[(NaiveDateTime, Tally)], now: NaiveDateTime) -> Self {
        let first = usage::window_start(now, DAYS_SHOWN);
        let tallies: Vec<(NaiveDateTime, Tally)> = (0..DAYS_SHOWN)
            .map(|i| {
                let day = first + Duration::days(i);
                let tally = stored
                    .iter()
                    .find(|(d, _)| *d == day)
                    .map_or_else(Tally::default, |(_, t)| *t);
                (day, tally)
            })
            .collect();
        let max = tallies
            .iter()
            .map(|(_, t)| t.accepted + t.refused())
            .max()
            .unwrap_or(0);
        let scale = |count: i64| crate::views::bar_height(count, max, PLOT_HEIGHT);
        let base = TOP + PLOT_HEIGHT;
        let mut total = Tally::default();
        let days = tallies
            .into_iter()
            .enumerate()
            .map(|(i, (day, tally))| {
                total.add(&tally);
                let x = i as i64 * (BAR_WIDTH + GAP) + GAP;
                let accepted = scale(tally.accepted);
                let both = scale(tally.accepted + tally.refused());
                UsageDay {
                    label: day.format("%b %-d").to_string(),
                    date: day.format("%Y-%m-%d").to_string(),
                    tally,
                    x,
                    label_x: x + BAR_WIDTH / 2,
                    show_label: i % 5 == 0,
                    accepted: Span {
                        y: base - accepted,
                        height: accepted,
                    },
                    refused: Span {
                        y: base - both,
                        height: both - accepted,
                    },
                }
            })
            .collect();
        Self {
            total,
            days,
            width: DAYS_SHOWN * (BAR_WIDTH + GAP) + GAP,
            height: base + 28,
            max,
            axis_y: base,
            label_y: base + 18,
            bar_width: BAR_WIDTH,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn thirty_days_end_today_and_the_busiest_fills_the_plot() {
        let now = NaiveDate::from_ymd_opt(2026, 12, 4)
            .and_then(|d| d.and_hms_opt(15, 0, 0))
            .expect("a valid time");
        let today = usage::day_of(now);
        let busy = Tally {
            accepted: 30,
            wrong_password: 10,
            ..Tally::default()
        };
        let quiet = Tally {
            accepted: 4,
            ..Tally::default()
        };
        // A day before the window is ignored.
        let stored = [
            (today - Duration::days(30), quiet),
            (today - Duration::days(29), quiet),
            (today, busy),
        ];
        let view = UsageView::new(&stored, now);
        assert_eq!(view.days.len(), 30);
        assert_eq!(view.days[0].date, "2026-11-05");
        assert_eq!(view.days[29].date, "2026-12-04");
        assert_eq!((view.total.accepted, view.total.refused()), (34, 10));
        assert_eq!(view.max, 40);
        let last = &view.days[29];
        assert_eq!(last.accepted.height + last.refused.height, PLOT_HEIGHT);
        assert_eq!(last.refused.y, TOP);
        assert_eq!(last.accepted.height, 90);
        assert_eq!(view.days[1].accepted.height, 0);
    }
}
