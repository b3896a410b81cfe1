//! Usage per token per day: every call with a known token counted by outcome, written in
//! batches, shown on the token page, and kept 90 days.

use crate::helpers::*;
use chrono::Duration;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use reqwest::{Client, StatusCode};
use sesame::clock::Clock;
use sesame::db::usage::{self, DayCount, Tally};
use sesame::db::usage_totals::{self, Totals};
use sesame::domain::{AccountId, TokenId};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// `GET /api/v1/whoami` as if from `from` (the app trusts the loopback proxy).
async fn call(app: &TestApp, username: &str, password: &str, from: &str) -> StatusCode {
    Client::new()
        .get(app.url("/api/v1/whoami"))
        .header("authorization", basic(username, password))
        .header("x-forwarded-for", from)
        .send()
        .await
        .unwrap()
        .status()
}

fn number(html: &str, id: &str) -> i64 {
    element_text(html, id)
        .unwrap_or_else(|| panic!("no element {id}"))
        .parse()
        .unwrap_or_else(|_| panic!("{id} holds only a number"))
}

const WRONG: &str = "guess-guess-guess-guess-guess-guess-gues";

/// Waits (up to 15 s) until `path`, as `session` sees it, holds `want` in element `id`.
async fn shows_within_15s(
    app: &TestApp,
    session: &Session,
    path: &str,
    id: &str,
    want: i64,
) -> String {
    let started = Instant::now();
    loop {
        let page = app.get_html(session, path).await;
        if element_text(&page, id).and_then(|t| t.parse::<i64>().ok()) == Some(want) {
            return page;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "{path} did not show {want} in #{id} within 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Every token's totals, as the lists read them, against sums of its days.
fn assert_totals_match_days(app: &TestApp, tokens: &[&Created]) {
    let now = app.clock.now();
    let mut conn = app.pool.get().unwrap();
    let ids: Vec<TokenId> = tokens.iter().map(|t| TokenId::from(t.id.clone())).collect();
    let refs: Vec<&TokenId> = ids.iter().collect();
    let totals = usage_totals::of(&mut conn, &refs).unwrap();
    for id in &ids {
        let days = usage::daily(&mut conn, id, usage::window_start(now, 30)).unwrap();
        let mut want = Totals::default();
        for (day, tally) in days {
            want.accepted_30d += tally.accepted;
            want.refused_30d += tally.refused();
            if day >= usage::window_start(now, 7) {
                want.after_end_7d += tally.after_end();
            }
        }
        let got = totals.get(id).copied().unwrap_or_default();
        assert_eq!(got, want, "token {id} at {now}");
    }
}

crate::both_backends! {
#[tokio::test]
async fn every_call_is_counted_by_outcome_and_shows_on_the_token_page_within_fifteen_seconds() {
    let app = spawn_app_with(&[("SESAME_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let cast = app.cast().await;
    let used = app.create_named(&cast.admin, "Used").await;
    let fenced = app
        .create_token(
            &cast.admin,
            &[("name", "Fenced"), ("expires_in", "30d"), ("allowed_ips", "10.0.0.0/8")],
        )
        .await;
    let revoked = app.create_named(&cast.admin, "Revoked, still called").await;
    let response = app
        .post(&cast.admin, &format!("/tokens/{}/revoke", revoked.id), &[])
        .await;
    assert!(response.status().is_redirection());

    for _ in 0..3 {
        assert_eq!(call(&app, &used.username, &used.password, "198.51.100.1").await, StatusCode::OK);
    }
    for _ in 0..2 {
        assert_eq!(call(&app, &used.username, WRONG, "198.51.100.2").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(call(&app, &fenced.username, &fenced.password, "198.51.100.1").await, StatusCode::FORBIDDEN);
    for _ in 0..2 {
        assert_eq!(
            call(&app, &revoked.username, &revoked.password, "198.51.100.3").await,
            StatusCode::UNAUTHORIZED
        );
    }
    // An unknown username is nobody's call.
    assert_eq!(call(&app, "nobody-here", WRONG, "198.51.100.4").await, StatusCode::UNAUTHORIZED);
    // Thirty failures are let through; the 31st throttles the address (still a wrong
    // password). The next call, with the right password, is refused before its password
    // is checked, and counted against the (cached) token as throttled.
    for _ in 0..30 {
        assert_eq!(call(&app, &used.username, WRONG, "198.51.100.66").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(call(&app, &used.username, WRONG, "198.51.100.66").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        call(&app, &used.username, &used.password, "198.51.100.66").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let last_call = Instant::now();

    // Written within one tick (5 s): the page shows them well within 15 s.
    let path = format!("/tokens/{}", used.id);
    let page = loop {
        let page = app.get_html(&cast.support, &path).await;
        if number(&page, "usage-30d-accepted") == 3 && number(&page, "usage-30d-refused") == 34 {
            break page;
        }
        assert!(
            last_call.elapsed() < std::time::Duration::from_secs(15),
            "the calls did not appear on the token page within 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(number(&page, "usage-30d-wrong-password"), 33);
    assert_eq!(number(&page, "usage-30d-throttled"), 1);
    assert_eq!(number(&page, "usage-30d-outside-networks"), 0);
    assert!(page.contains("id=\"usage-chart\"") && page.contains("id=\"usage-table\""));

    let fenced_page = app.get_html(&cast.admin, &format!("/tokens/{}", fenced.id)).await;
    assert_eq!(number(&fenced_page, "usage-30d-outside-networks"), 1);
    assert_eq!(number(&fenced_page, "usage-30d-accepted"), 0);
    let revoked_page = app.get_html(&cast.admin, &format!("/tokens/{}", revoked.id)).await;
    assert_eq!(number(&revoked_page, "usage-30d-revoked"), 2);

    // One row per token and day: counted in memory, added in batches.
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM token_usage"), 3);
    // Another account's admin sees none of it.
    let other = app.get(&cast.other_admin, &path).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_windows_and_the_retention_follow_the_clock() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let live = app.create_named(&cast.admin, "Live").await;
    let dead = app.create_named(&cast.admin, "Dead").await;
    app.post(&cast.admin, &format!("/tokens/{}/revoke", dead.id), &[]).await;
    let account = AccountId::from(app.text(&format!(
        "SELECT account_id AS t FROM api_tokens WHERE id = '{}'",
        live.id
    )));
    let today = usage::day_of(app.clock.now());
    let row = |token: &Created, days_ago: i64, tally: Tally| DayCount {
        token_id: TokenId::from(token.id.clone()),
        account_id: account.clone(),
        day: today - Duration::days(days_ago),
        tally,
    };
    let accepted = |n| Tally { accepted: n, ..Tally::default() };
    let after_revoke = |n| Tally { revoked: n, ..Tally::default() };
    let rows = [
        row(&live, 29, accepted(5)),
        row(&live, 30, accepted(7)),
        row(&live, 89, accepted(1)),
        row(&live, 90, accepted(100)),
        row(&dead, 6, after_revoke(2)),
        row(&dead, 7, after_revoke(3)),
    ];
    usage_totals::add(&mut app.pool.get().unwrap(), &rows).unwrap();

    let shown = |html: &str, id: &str| number(html, id);
    let page = app.get_html(&cast.admin, &format!("/tokens/{}", live.id)).await;
    assert_eq!(shown(&page, "usage-30d-accepted"), 5, "29 days ago is in, 30 is out");
    let page = app.get_html(&cast.support, &format!("/tokens/{}", dead.id)).await;
    assert_eq!(shown(&page, "usage-30d-revoked"), 5, "an ended token's page counts on");

    let report = app.tick().await;
    assert_eq!(report.usage_rows_deleted, 1, "only the row 90 days old goes");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM token_usage"), 5);

    app.clock.advance(Duration::days(1));
    let page = app.get_html(&cast.admin, &format!("/tokens/{}", live.id)).await;
    assert_eq!(shown(&page, "usage-30d-accepted"), 0);
    assert_eq!(app.tick().await.usage_rows_deleted, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM token_usage WHERE accepted = 1"),
        0,
        "the row now 90 days old went too"
    );
}

#[tokio::test]
async fn batches_are_a_statement_per_500_rows_and_add_up_across_processes() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Busy").await;
    let account = AccountId::from(app.text(&format!(
        "SELECT account_id AS t FROM api_tokens WHERE id = '{}'",
        token.id
    )));
    let today = usage::day_of(app.clock.now());
    let batch: Vec<DayCount> = (0..600)
        .map(|days_ago| DayCount {
            token_id: TokenId::from(token.id.clone()),
            account_id: account.clone(),
            day: today - Duration::days(days_ago),
            tally: Tally { accepted: 2, wrong_password: 1, ..Tally::default() },
        })
        .collect();
    let statements = Arc::new(AtomicUsize::new(0));
    let mut conn = app.pool.get().unwrap();
    diesel::Connection::set_instrumentation(&mut *conn, Counter(statements.clone()));
    usage_totals::add(&mut conn, &batch).unwrap();
    assert_eq!(statements.load(Ordering::Relaxed), 2, "600 rows in two statements");
    // The same counts from another process add to the stored ones.
    usage_totals::add(&mut app.pool.get().unwrap(), &batch).unwrap();
    // (The scheduler may delete the rows past 90 days meanwhile: count the last 80 days.)
    let recent = (today - Duration::days(79)).format("%Y-%m-%d");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM token_usage \
             WHERE accepted = 4 AND wrong_password = 2 AND day >= '{recent}'"
        )),
        80
    );
}

#[tokio::test]
async fn the_lists_show_calls_in_30_days_and_calls_after_the_end_in_7_and_support_sees_them() {
    let app = spawn_app_with(&[("SESAME_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let cast = app.cast().await;
    let used = app.create_token(&cast.admin, &[("name", "Used"), ("expires_in", "90d")]).await;
    let dead = app.create_named(&cast.admin, "Dead, still called").await;
    app.post(&cast.admin, &format!("/tokens/{}/revoke", dead.id), &[]).await;
    for _ in 0..3 {
        assert_eq!(call(&app, &used.username, &used.password, "198.51.100.1").await, StatusCode::OK);
    }
    assert_eq!(call(&app, &used.username, WRONG, "198.51.100.2").await, StatusCode::UNAUTHORIZED);
    for _ in 0..2 {
        assert_eq!(call(&app, &dead.username, &dead.password, "198.51.100.3").await, StatusCode::UNAUTHORIZED);
    }
    let calls = format!("calls-{}", used.id);
    let ended = format!("ended-calls-{}", dead.id);
    let list = shows_within_15s(&app, &cast.admin, "/tokens", &calls, 3).await;
    assert!(list.contains("+1 refused"), "the refusals beside the calls");
    let inactive = shows_within_15s(&app, &cast.support, "/tokens/inactive", &ended, 2).await;
    assert!(inactive.contains("class=\"ended-calls-alert\""), "a dead credential in use stands out");
    assert_totals_match_days(&app, &[&used, &dead]);

    // Six days on, the calls after the end are still in the 7 days; on the seventh they leave.
    app.clock.advance(Duration::days(6));
    app.tick().await;
    assert_eq!(number(&app.get_html(&cast.support, "/tokens/inactive").await, &ended), 2);
    app.clock.advance(Duration::days(1));
    app.tick().await;
    let inactive = app.get_html(&cast.support, "/tokens/inactive").await;
    assert_eq!(number(&inactive, &ended), 0);
    assert!(!inactive.contains("class=\"ended-calls-alert\""));
    // The accepted calls stay 30 days, today included.
    assert_eq!(number(&app.get_html(&cast.admin, "/tokens").await, &calls), 3);
    app.clock.advance(Duration::days(22));
    app.tick().await;
    assert_eq!(number(&app.get_html(&cast.admin, "/tokens").await, &calls), 3, "29 days ago is in");
    app.clock.advance(Duration::days(1));
    app.tick().await;
    assert_eq!(number(&app.get_html(&cast.admin, "/tokens").await, &calls), 0, "30 days ago is out");
    assert_totals_match_days(&app, &[&used, &dead]);
}

#[tokio::test]
async fn the_totals_follow_their_days_through_every_daily_roll_and_a_long_gap() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let a = app.create_token(&cast.admin, &[("name", "A"), ("expires_in", "365d")]).await;
    let b = app.create_named(&cast.admin, "B").await;
    app.post(&cast.admin, &format!("/tokens/{}/revoke", b.id), &[]).await;
    let account = AccountId::from(app.text(&format!(
        "SELECT account_id AS t FROM api_tokens WHERE id = '{}'",
        a.id
    )));
    // Forty days of counts, added in batches as they happen, then a day at a time with a
    // tick each, then a jump of 45 days (the totals are summed again).
    for day in 0..40 {
        let today = usage::day_of(app.clock.now());
        let rows: Vec<DayCount> = [(&a, day + 1, 0), (&b, 1, day % 3)]
            .iter()
            .map(|(token, accepted, revoked)| DayCount {
                token_id: TokenId::from(token.id.clone()),
                account_id: account.clone(),
                day: today,
                tally: Tally { accepted: *accepted, revoked: *revoked, wrong_password: 1, ..Tally::default() },
            })
            .collect();
        usage_totals::add(&mut app.pool.get().unwrap(), &rows).unwrap();
        assert_totals_match_days(&app, &[&a, &b]);
        app.clock.advance(Duration::days(1));
        if day % 2 == 0 {
            // Some days the batch, not the tick, is the first to see the new day.
            app.tick().await;
            assert_totals_match_days(&app, &[&a, &b]);
        }
    }
    app.tick().await;
    assert_totals_match_days(&app, &[&a, &b]);
    app.clock.advance(Duration::days(45));
    app.tick().await;
    assert_totals_match_days(&app, &[&a, &b]);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM token_usage_totals"), 0, "nothing left in the windows");
}

#[tokio::test]
async fn unused_lists_the_active_tokens_without_an_accepted_call_in_30_days_and_the_dashboard_counts_them() {
    let app = spawn_app_with(&[("SESAME_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let cast = app.cast().await;
    let never = app.create_token(&cast.admin, &[("name", "Never used"), ("expires_in", "90d")]).await;
    let used = app.create_token(&cast.admin, &[("name", "Used today"), ("expires_in", "90d")]).await;
    let refused = app
        .create_token(&cast.admin, &[("name", "Only refused"), ("expires_in", "90d"), ("allowed_ips", "10.0.0.0/8")])
        .await;
    let gone = app.create_named(&cast.admin, "Revoked").await;
    app.post(&cast.admin, &format!("/tokens/{}/revoke", gone.id), &[]).await;
    // The Dashboard has read the lists before the call: the use must reach its memory.
    let dashboard = app.get_html(&cast.support, "/dashboard").await;
    assert_eq!(number(&dashboard, "count-unused"), 3);
    assert!(dashboard.contains("href=\"/tokens?unused=30\""));
    assert!(dashboard.contains("Unused for 30 days: <span id=\"count-unused\">3</span>"));

    assert_eq!(call(&app, &used.username, &used.password, "198.51.100.1").await, StatusCode::OK);
    assert_eq!(call(&app, &refused.username, &refused.password, "198.51.100.1").await, StatusCode::FORBIDDEN);
    shows_within_15s(&app, &cast.support, "/dashboard", "count-unused", 2).await;
    let listed = app.get_html(&cast.admin, "/tokens?unused=30").await;
    assert!(listed.contains(&format!("/tokens/{}\"", never.id)), "never used counts as unused");
    assert!(listed.contains(&format!("/tokens/{}\"", refused.id)), "a refused call is not a use");
    assert!(!listed.contains(&format!("/tokens/{}\"", used.id)));
    assert!(!listed.contains(&format!("/tokens/{}\"", gone.id)), "only active tokens");
    assert!(listed.contains("id=\"unused-filter\""));
    let searched = app.get_html(&cast.admin, "/tokens?unused=30&q=never").await;
    assert!(searched.contains(&format!("/tokens/{}\"", never.id)));
    assert!(!searched.contains(&format!("/tokens/{}\"", refused.id)), "the search narrows it");
    // A day-granular window: used today, the token is in use for 30 days, today included.
    app.clock.advance(Duration::days(29));
    assert!(!app.get_html(&cast.admin, "/tokens?unused=30").await.contains(&format!("/tokens/{}\"", used.id)));
    assert!(app.get_html(&cast.admin, "/tokens?unused=29").await.contains(&format!("/tokens/{}\"", used.id)));
    app.clock.advance(Duration::days(1));
    assert!(app.get_html(&cast.admin, "/tokens?unused=30").await.contains(&format!("/tokens/{}\"", used.id)));
    assert_eq!(number(&app.get_html(&cast.admin, "/dashboard").await, "count-unused"), 3);

    for bad in ["0", "91", "thirty", "", "-5", "1.5"] {
        let response = app.get(&cast.admin, &format!("/tokens?unused={bad}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "unused={bad:?}");
    }
    // Members see no list at all.
    assert_eq!(app.get(&cast.member, "/tokens?unused=30").await.status(), StatusCode::FORBIDDEN);
}
}

/// Counts the statements a connection runs that add days to `token_usage`.
struct Counter(Arc<AtomicUsize>);

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            if query.to_string().contains("INSERT INTO token_usage (") {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
