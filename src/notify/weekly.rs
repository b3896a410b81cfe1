//! The weekly token report: for each account, what its admins should look at — tokens
//! about to expire, tokens nobody uses, tokens created that week and by whom, calls refused
//! from outside the allowed networks, and calls still made with ended tokens.
//!
//! The scheduler queues it on the first tick of each week (`SESAME_WEEKLY_REPORT_DAY`);
//! `sesame digest --once` queues it now. The week is recorded in `weekly_reports` in the
//! transaction that queues it, with the account's row locked, so several schedulers send
//! each week's report once.

use super::messages::Message;
use crate::db::outbox::{self, NewNotice};
use crate::db::tokens::{self, ActiveFilter};
use crate::db::weekly_reports::{self, DatedToken, ReportedAccount, TokenCalls};
use crate::db::{self, accounts, usage, users, DbConn};
use crate::domain::TokenId;
use crate::error::AppError;
use crate::tokens::summary;
use askama::Template;
use chrono::{Datelike, Duration, NaiveDateTime, Weekday};
use url::Url;

pub const WEEKLY_REPORT: &str = "weekly_report";
/// The report lists the tokens expiring within this many days.
pub const EXPIRING_DAYS: i64 = 14;
/// Creations and calls are counted over the last this many days.
pub const REPORT_DAYS: i64 = 7;
/// Tokens named per section; the rest are counted, with a link to the full list.
const LISTED: usize = 20;

/// The week `now` falls in, for weeks starting on `first_day`: midnight UTC of that day.
pub fn week_of(now: NaiveDateTime, first_day: Weekday) -> NaiveDateTime {
    let back = (7 + now.weekday().num_days_from_monday() - first_day.num_days_from_monday()) % 7;
    usage::day_of(now) - Duration::days(i64::from(back))
}

/// Whether the report is queued again for an account whose week is already recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// The scheduler: once per account per week.
    OncePerWeek,
    /// `sesame digest --once`: now, whatever was sent before.
    Now,
}

/// Queues the account's report for `week` to each admin who wants it; how many notices.
/// The report is read before the transaction: on SQLite it holds the write lock only to
/// record the week and queue the notices.
pub fn queue(
    conn: &mut DbConn,
    base_url: &Url,
    account: &ReportedAccount,
    week: NaiveDateTime,
    now: NaiveDateTime,
    repeat: Repeat,
) -> Result<usize, AppError> {
    let wanted = !users::weekly_report_emails(conn, &account.id)?.is_empty();
    let message = match wanted {
        true => Some(render(base_url, &gather(conn, account, now)?)?),
        false => None,
    };
    db::transaction(conn, |conn| {
        // The account's row first: a scheduler that queued this week meanwhile has committed.
        accounts::take_numbers(conn, &account.id, accounts::Numbered::Notices, 0)?;
        if weekly_reports::queued(conn, &account.id, week)? {
            if repeat == Repeat::OncePerWeek {
                return Ok(0);
            }
        } else {
            weekly_reports::record(conn, &account.id, week, now)?;
        }
        let Some(message) = &message else {
            return Ok(0);
        };
        let to = users::weekly_report_emails(conn, &account.id)?;
        let count = to.len() as i64;
        let last = accounts::take_numbers(conn, &account.id, accounts::Numbered::Notices, count)?;
        let period = format!("week of {}", week.format("%Y-%m-%d"));
        for (seq, recipient) in (last - count + 1..).zip(&to) {
            let notice = NewNotice {
                account_id: Some(&account.id),
                kind: WEEKLY_REPORT,
                token_id: None,
                period: &period,
                recipient,
                subject: &message.subject,
                body_text: &message.text,
                body_html: &message.html,
            };
            outbox::insert_numbered(conn, &notice, Some(seq), now)?;
        }
        Ok(to.len())
    })
}

/// What one account's report holds.
pub struct Report {
    pub account_name: String,
    pub now: NaiveDateTime,
    pub expiring: Vec<DatedToken>,
    pub expiring_count: i64,
    pub unused: Vec<tokens::ShownToken>,
    pub unused_count: i64,
    pub created: Vec<DatedToken>,
    pub created_count: i64,
    /// The tokens with calls of either kind, each list's in descending order.
    pub outside_networks: Vec<TokenCalls>,
    pub after_end: Vec<TokenCalls>,
}

pub fn gather(
    conn: &mut DbConn,
    account: &ReportedAccount,
    now: NaiveDateTime,
) -> Result<Report, AppError> {
    let id = &account.id;
    let until = now + Duration::days(EXPIRING_DAYS);
    let unused = ActiveFilter {
        unused_since: Some(summary::unused_since(now)),
        ..ActiveFilter::default()
    };
    let (created, created_count) =
        weekly_reports::created_since(conn, id, now - Duration::days(REPORT_DAYS), LISTED as i64)?;
    let calls = weekly_reports::calls_since(conn, id, usage::window_start(now, REPORT_DAYS))?;
    let ranked = |count: fn(&TokenCalls) -> i64| {
        let mut ranked: Vec<TokenCalls> = calls.iter().filter(|c| count(c) > 0).cloned().collect();
        ranked.sort_by(|a, b| count(b).cmp(&count(a)).then_with(|| a.name.cmp(&b.name)));
        ranked
    };
    Ok(Report {
        account_name: account.name.clone(),
        now,
        expiring: weekly_reports::expiring(conn, id, now, until, LISTED as i64)?,
        expiring_count: tokens::count_expiring_between(conn, id, now, until)?,
        unused: tokens::list_active(conn, id, now, &unused, LISTED as i64, 0)?,
        unused_count: tokens::count_active(conn, id, now, &unused)?,
        created,
        created_count,
        outside_networks: ranked(|c| c.outside_networks),
        after_end: ranked(|c| c.after_end),
    })
}

/// One section of the report: a heading with its total, the first tokens, and where the
/// rest are.
pub struct Section {
    pub id: &'static str,
    pub heading: String,
    pub lines: Vec<Line>,
    /// How many more than the lines, and the page that lists them all.
    pub more: i64,
    pub more_link: String,
}

pub struct Line {
    pub name: String,
    pub link: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "email/weekly_report.txt")]
struct ReportText<'a> {
    account_name: &'a str,
    sections: &'a [Section],
    account_link: &'a str,
}

#[derive(Template)]
#[template(path = "email/weekly_report.html")]
struct ReportHtml<'a> {
    account_name: &'a str,
    sections: &'a [Section],
    account_link: &'a str,
}

fn utc(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn calls(n: i64) -> String {
    match n {
        1 => "1 call".to_string(),
        n => format!("{n} calls"),
    }
}

/// The report's links, absolute from `SESAME_BASE_URL`.
struct Links<'a>(&'a Url);

impl Links<'_> {
    fn to(&self, path: &str) -> String {
        crate::links::absolute(self.0, path)
    }

    fn token(&self, id: &TokenId, name: &str, detail: String) -> Line {
        Line {
            name: name.to_string(),
            link: self.to(&format!("tokens/{id}")),
            detail,
        }
    }

    fn dated(&self, tokens: &[DatedToken], verb: &str) -> Vec<Line> {
        let line = |t: &DatedToken| {
            self.token(
                &t.id,
                &t.name,
                format!("{verb} {} by {}", utc(t.at), t.creator),
            )
        };
        tokens.iter().map(line).collect()
    }

    fn unused(&self, tokens: &[tokens::ShownToken]) -> Vec<Line> {
        let line = |(t, _): &tokens::ShownToken| {
            let used = match t.last_used_at {
                Some(at) => format!("last used {}", utc(at)),
                None => "never used".to_string(),
            };
            self.token(
                &t.id,
                &t.name,
                format!("{used}, created by {}", t.created_by_email),
            )
        };
        tokens.iter().map(line).collect()
    }

    /// A section of calls: the total, and the tokens with the most first.
    fn calls(
        &self,
        id: &'static str,
        what: &str,
        ranked: &[TokenCalls],
        count: fn(&TokenCalls) -> i64,
        more_path: &str,
    ) -> Section {
        let total: i64 = ranked.iter().map(count).sum();
        Section {
            id,
            heading: format!("{what}, last {REPORT_DAYS} days: {total}"),
            lines: ranked
                .iter()
                .take(LISTED)
                .map(|c| self.token(&c.id, &c.name, calls(count(c))))
                .collect(),
            more: ranked.len().saturating_sub(LISTED) as i64,
            more_link: self.to(more_path),
        }
    }
}

fn sections(links: &Links<'_>, report: &Report) -> Vec<Section> {
    vec![
        Section {
            id: "expiring",
            heading: format!(
                "Expiring in the next {EXPIRING_DAYS} days: {}",
                report.expiring_count
            ),
            more: report.expiring_count - report.expiring.len() as i64,
            lines: links.dated(&report.expiring, "expires"),
            more_link: links.to("tokens"),
        },
        Section {
            id: "unused",
            heading: format!(
                "Unused for {} days: {}",
                summary::UNUSED_DAYS,
                report.unused_count
            ),
            more: report.unused_count - report.unused.len() as i64,
            lines: links.unused(&report.unused),
            more_link: links.to(&format!("tokens?unused={}", summary::UNUSED_DAYS)),
        },
        Section {
            id: "created",
            heading: format!(
                "Created in the last {REPORT_DAYS} days: {}",
                report.created_count
            ),
            more: report.created_count - report.created.len() as i64,
            lines: links.dated(&report.created, "created"),
            more_link: links.to("audit"),
        },
        links.calls(
            "outside-networks",
            "Calls refused from outside the allowed networks",
            &report.outside_networks,
            |c| c.outside_networks,
            "tokens",
        ),
        links.calls(
            "ended",
            "Calls with expired or revoked tokens",
            &report.after_end,
            |c| c.after_end,
            "tokens/inactive",
        ),
    ]
}

pub fn render(base_url: &Url, report: &Report) -> Result<Message, AppError> {
    let links = Links(base_url);
    let sections = sections(&links, report);
    let account_link = links.to("account");
    let template_error = |e: askama::Error| AppError::internal(format!("e-mail template: {e}"));
    Ok(Message {
        subject: format!("Weekly token report: {}", report.account_name),
        text: ReportText {
            account_name: &report.account_name,
            sections: &sections,
            account_link: &account_link,
        }
        .render()
        .map_err(template_error)?,
        html: ReportHtml {
            account_name: &report.account_name,
            sections: &sections,
            account_link: &account_link,
        }
        .render()
        .map_err(template_error)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn a_week_starts_at_midnight_utc_of_its_first_day() {
        // 2026-12-06 is a Sunday.
        let at = |d: u32, h: u32| {
            NaiveDate::from_ymd_opt(2026, 12, d)
                .unwrap()
                .and_hms_opt(h, 30, 0)
                .unwrap()
        };
        let midnight = |d: u32| {
            NaiveDate::from_ymd_opt(2026, 12, d)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
        };
        let monday_before = midnight(7) - Duration::days(7);
        assert_eq!(week_of(at(6, 21), Weekday::Mon), monday_before);
        assert_eq!(week_of(at(7, 0), Weekday::Mon), midnight(7));
        assert_eq!(week_of(at(13, 23), Weekday::Mon), midnight(7));
        assert_eq!(week_of(at(6, 21), Weekday::Sun), midnight(6));
        assert_eq!(
            week_of(at(5, 21), Weekday::Sun),
            midnight(6) - Duration::days(7)
        );
        assert_eq!(week_of(at(10, 1), Weekday::Thu), midnight(10));
        assert_eq!(week_of(at(9, 1), Weekday::Thu), midnight(3));
    }

    #[test]
    fn a_section_names_the_first_twenty_tokens_and_links_to_the_rest() {
        let base = Url::parse("https://tokens.example.com/").unwrap();
        let ranked: Vec<TokenCalls> = (0..25)
            .map(|i| TokenCalls {
                id: TokenId::from(format!("t{i}")),
                name: format!("token {i}"),
                outside_networks: 30 - i,
                after_end: 0,
            })
            .collect();
        let section = Links(&base).calls("x", "Calls", &ranked, |c| c.outside_networks, "tokens");
        assert_eq!(section.heading, "Calls, last 7 days: 450");
        assert_eq!(section.lines.len(), 20);
        assert_eq!(section.lines[0].detail, "30 calls");
        assert_eq!(
            section.lines[0].link,
            "https://tokens.example.com/tokens/t0"
        );
        assert_eq!(section.more, 5);
        assert_eq!(section.more_link, "https://tokens.example.com/tokens");
    }
}
