//! The weekly token report: what it lists, to whom, once per account per week whatever the
//! number of schedulers, the opt-out on `/account`, and `sesame digest --once`.

use crate::helpers::*;
use crate::smtp::SmtpServer;
use chrono::{Datelike, Duration, NaiveDateTime};
use reqwest::{Client, StatusCode};
use sesame::clock::Clock;
use sesame::domain::Role;
use sesame::notify::scheduler::Notifier;
use std::time::Instant;

/// `GET /api/v1/whoami` as if from `from` (the app trusts the loopback proxy).
async fn call(app: &TestApp, token: &Created, from: &str) -> StatusCode {
    Client::new()
        .get(app.url("/api/v1/whoami"))
        .basic_auth(&token.username, Some(&token.password))
        .header("x-forwarded-for", from)
        .send()
        .await
        .unwrap()
        .status()
}

/// The weekday after today (the test clock starts at the wall clock): its first tick
/// starts the report's week.
fn tomorrow() -> chrono::Weekday {
    chrono::Utc::now().weekday().succ()
}

/// Moves the clock to 01:00 UTC on the next day.
fn to_next_day(app: &TestApp) {
    let now: NaiveDateTime = app.clock.now();
    let next = now.date().succ_opt().unwrap().and_hms_opt(1, 0, 0).unwrap();
    app.clock.advance(next - now);
}

async fn app_reporting_on(day: chrono::Weekday, smtp: &SmtpServer) -> TestApp {
    spawn_app_with(&[
        ("SESAME_SMTP_URL", &smtp.url()),
        ("SESAME_BASE_URL", "https://tokens.example.com"),
        ("SESAME_TRUSTED_PROXIES", "127.0.0.1"),
        ("SESAME_WEEKLY_REPORT_DAY", &day.to_string()),
    ])
    .await
}

fn weekly_notifier(app: &TestApp, day: chrono::Weekday) -> Notifier {
    app.second_notifier().with_weekly_report(Some(day))
}

/// The text body of the weekly report queued to `to` (the newest).
fn report_to(app: &TestApp, to: &str) -> String {
    app.text(&format!(
        "SELECT body_text AS t FROM outbox WHERE kind = 'weekly_report' AND recipient = '{to}' \
         ORDER BY created_at DESC, seq DESC LIMIT 1"
    ))
}

fn reports_queued(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'weekly_report'")
}

/// Waits (up to 15 s) for the usage batch holding the calls made so far.
async fn usage_written(app: &TestApp, outside: i64, ended: i64) {
    let started = Instant::now();
    let sql = "SELECT CAST(COALESCE(SUM(outside_networks), 0) AS BIGINT) AS n FROM token_usage";
    let ended_sql =
        "SELECT CAST(COALESCE(SUM(expired + revoked), 0) AS BIGINT) AS n FROM token_usage";
    while app.count(sql) != outside || app.count(ended_sql) != ended {
        assert!(
            started.elapsed().as_secs() < 15,
            "usage not written within 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

crate::both_backends! {
#[tokio::test]
async fn the_report_lists_what_admins_should_look_at_once_a_week_whatever_the_schedulers() {
    let smtp = SmtpServer::start();
    let day = tomorrow();
    let app = app_reporting_on(day, &smtp).await;
    let cast = app.cast().await;
    app.add_user("Acme", "quiet-admin@acme.test", Role::Admin);
    let quiet = app.login("quiet-admin@acme.test").await;
    let off = app.post(&quiet, "/account/weekly-report", &[]).await;
    assert_eq!(off.status(), StatusCode::SEE_OTHER);

    let soon = app.create_token(&cast.admin, &[("name", "Soon"), ("expires_in", "7d")]).await;
    app.create_named(&cast.admin, "Later").await;
    let fenced = app
        .create_token(
            &cast.admin,
            &[("name", "Fenced"), ("expires_in", "30d"), ("allowed_ips", "10.0.0.0/8")],
        )
        .await;
    let used = app.create_named(&cast.admin, "Used").await;
    let dead = app.create_named(&cast.admin, "Dead").await;
    app.post(&cast.admin, &format!("/tokens/{}/revoke", dead.id), &[]).await;
    app.create_named(&cast.other_admin, "Globex token").await;
    assert_eq!(call(&app, &used, "198.51.100.1").await, StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(call(&app, &fenced, "198.51.100.1").await, StatusCode::FORBIDDEN);
    }
    for _ in 0..2 {
        assert_eq!(call(&app, &dead, "198.51.100.2").await, StatusCode::UNAUTHORIZED);
    }
    usage_written(&app, 3, 2).await;

    // The accounts were created this week: their first report is next week's.
    assert_eq!(app.tick().await.weekly_reports_queued, 0);
    to_next_day(&app);
    // Three schedulers race at the week's start: each account's report is queued once, to
    // each admin who wants it (not the quiet one).
    let (first, second) = (weekly_notifier(&app, day), weekly_notifier(&app, day));
    let a = std::thread::spawn(move || first.tick().unwrap().weekly_reports_queued);
    let b = std::thread::spawn(move || second.tick().unwrap().weekly_reports_queued);
    let own = app.tick().await.weekly_reports_queued;
    assert_eq!(a.join().unwrap() + b.join().unwrap() + own, 2);
    assert_eq!(reports_queued(&app), 2);
    assert_eq!(app.tick().await.weekly_reports_queued, 0, "once per week");

    let notifications = app.get_html(&cast.admin, "/notifications").await;
    assert!(notifications.contains("Weekly report") && notifications.contains("Weekly token report: Acme"));
    let report = report_to(&app, "admin@acme.test");
    for line in [
        "Weekly token report for Acme",
        "Expiring in the next 14 days: 1",
        "Unused for 30 days: 3",
        "Created in the last 7 days: 5",
        "by admin@acme.test",
        "Calls refused from outside the allowed networks, last 7 days: 3",
        "  - Fenced: 3 calls",
        "Calls with expired or revoked tokens, last 7 days: 2",
        "  - Dead: 2 calls",
        "https://tokens.example.com/account",
        &format!("https://tokens.example.com/tokens/{}", soon.id),
    ] {
        assert!(report.contains(line), "{line:?} missing from:\n{report}");
    }
    let expiring = between(&report, "Expiring in the next 14 days: 1", "Unused").unwrap();
    assert!(expiring.contains("  - Soon: expires ") && !expiring.contains("Later"), "{expiring}");
    let unused = between(&report, "Unused for 30 days: 3", "Created").unwrap();
    for name in ["Soon:", "Later:", "Fenced:"] {
        assert!(unused.contains(name), "{name} in {unused}");
    }
    assert!(!unused.contains("Used:") && !unused.contains("Dead:"), "{unused}");
    assert!(!report.contains("Globex"), "another account's tokens: {report}");
    assert!(report_to(&app, "admin@globex.test").contains("Created in the last 7 days: 1"));

    eventually("the reports delivered", || {
        smtp.mails()
            .iter()
            .filter(|m| m.subject().starts_with("Weekly token report"))
            .count()
            >= 2
    })
    .await;
    let to_acme = smtp.mails_to("admin@acme.test");
    let acme: Vec<_> = to_acme
        .iter()
        .filter(|m| m.subject() == "Weekly token report: Acme")
        .collect();
    assert_eq!(acme.len(), 1);
    for opted_out_or_not_admin in ["quiet-admin@acme.test", "support@acme.test"] {
        assert!(smtp
            .mails_to(opted_out_or_not_admin)
            .iter()
            .all(|m| !m.subject().starts_with("Weekly")));
    }
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM outbox WHERE recipient = 'quiet-admin@acme.test' AND kind = 'weekly_report'"),
        0
    );

    // A week later, the next week's report: nothing created since.
    app.clock.advance(Duration::days(7));
    assert_eq!(app.tick().await.weekly_reports_queued, 2);
    assert_eq!(app.tick().await.weekly_reports_queued, 0);
    let next = report_to(&app, "admin@acme.test");
    assert!(next.contains("Created in the last 7 days: 0"), "{next}");
    assert!(next.contains("Expiring in the next 14 days: 0"), "Soon has expired: {next}");
}

#[tokio::test]
async fn digest_once_queues_every_accounts_report_now_at_each_run() {
    let smtp = SmtpServer::start();
    let day = tomorrow();
    let app = app_reporting_on(day, &smtp).await;
    let cast = app.cast().await;
    app.create_named(&cast.admin, "Acme token").await;
    // In the week the accounts were created, and twice: a run is a report.
    let scheduler = weekly_notifier(&app, day);
    let digest = || scheduler.digest().unwrap();
    assert_eq!(digest().weekly_reports_queued, 2);
    assert_eq!(digest().weekly_reports_queued, 2);
    assert_eq!(reports_queued(&app), 4);
    eventually("four reports", || {
        smtp.mails()
            .iter()
            .filter(|m| m.subject().starts_with("Weekly token report"))
            .count()
            == 4
    })
    .await;
    // A digest at the week's start counts as its report: the scheduler does not send again.
    to_next_day(&app);
    assert_eq!(digest().weekly_reports_queued, 2);
    assert_eq!(app.tick().await.weekly_reports_queued, 0);
    assert_eq!(reports_queued(&app), 6);
    assert!(report_to(&app, "admin@acme.test").contains("Created in the last 7 days: 1"));
}

#[tokio::test]
async fn each_user_turns_the_report_off_and_on_on_their_account_page() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let page = app.get_html(&cast.admin, "/account").await;
    assert!(page.contains("id=\"weekly-report\" name=\"weekly_report\" value=\"on\" checked"), "{page}");
    assert_eq!(element_text(&page, "account-email").as_deref(), Some("admin@acme.test"));
    assert!(page.contains("href=\"/sessions\""));

    // A form from elsewhere (no CSRF token) changes nothing.
    let forged = cast
        .admin
        .client
        .post(app.url("/account/weekly-report"))
        .form(&[("weekly_report", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let wanted = "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM users WHERE weekly_report = TRUE AND email = 'admin@acme.test'";
    assert_eq!(app.count(wanted), 1);

    // Unchecked: the box is absent from the form.
    let off = app.post(&cast.admin, "/account/weekly-report", &[]).await;
    assert_eq!(off.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&off), "/account");
    let page = app.get_html(&cast.admin, "/account").await;
    assert!(page.contains("You will no longer get the weekly token report."));
    assert!(page.contains("id=\"weekly-report\" name=\"weekly_report\" value=\"on\" aria-describedby"), "{page}");
    assert_eq!(app.count(wanted), 0);

    let bad = app.post(&cast.admin, "/account/weekly-report", &[("weekly_report", "maybe")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("either checked or not"));
    assert_eq!(app.count(wanted), 0);

    let on = app.post(&cast.admin, "/account/weekly-report", &[("weekly_report", "on")]).await;
    assert_eq!(on.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count(wanted), 1);

    // Only one's own setting: another admin's stays as it was.
    app.post(&cast.other_admin, "/account/weekly-report", &[]).await;
    assert_eq!(app.count(wanted), 1);
    // Every signed-in user has the page; signed out, it asks for sign-in.
    for session in [&cast.support, &cast.member] {
        let page = app.get_html(session, "/account").await;
        assert!(page.contains("only while you are an admin"));
    }
    let anonymous = client().get(app.url("/account")).send().await.unwrap();
    assert!(anonymous.status().is_redirection());
    assert_eq!(location(&anonymous), sign_in_for("/account"));
}
}

/// The report's pass over usage reads only the account's tokens, each one's days from the
/// window's start (a primary-key range), never the whole table: 100,000 tokens keep 9
/// million rows.
#[tokio::test]
async fn the_reports_usage_query_reads_only_the_accounts_days_in_its_window() {
    use diesel::Connection;
    let app = spawn_app().await;
    let sesame::config::DatabaseUrl::Sqlite(path) = &app.settings.database_url else {
        unreachable!("spawn_app runs on SQLite")
    };
    let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    let sql = sesame::db::weekly_reports::CALLS_SQL.replace('$', "?");
    let plan = crate::statements::sqlite_plan(&mut conn, &sql).join("\n");
    assert!(
        plan.contains("SEARCH u USING INDEX sqlite_autoindex_token_usage_1 (token_id=? AND day>?)"),
        "{plan}"
    );
    assert!(
        plan.contains("SEARCH t USING INDEX api_tokens_account"),
        "{plan}"
    );
    assert!(
        !plan.contains("SCAN u") && !plan.contains("SCAN t"),
        "{plan}"
    );
}
