//! Usage per token per day: every call with a known token counted by outcome, written in
//! batches, shown on the token page, and kept 90 days.

use crate::helpers::*;
use chrono::Duration;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use reqwest::{Client, StatusCode};
use sesame::clock::Clock;
use sesame::db::usage::{self, DayCount, Tally};
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
    usage::add(&mut app.pool.get().unwrap(), &rows).unwrap();

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
    usage::add(&mut conn, &batch).unwrap();
    assert_eq!(statements.load(Ordering::Relaxed), 2, "600 rows in two statements");
    // The same counts from another process add to the stored ones.
    usage::add(&mut app.pool.get().unwrap(), &batch).unwrap();
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM token_usage WHERE accepted = 4 AND wrong_password = 2"),
        600
    );
}
}

/// Counts the statements a connection runs.
struct Counter(Arc<AtomicUsize>);

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}
