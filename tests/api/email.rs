//! E-mail notices through a real SMTP server: who gets what, exactly once, whatever the
//! ticks, restarts, outages and concurrent schedulers.

use crate::helpers::*;
use crate::smtp::SmtpServer;
use chrono::Duration;
use reqwest::StatusCode;
use sesame::domain::Role;

async fn app_with_smtp(smtp_url: &str) -> TestApp {
    spawn_app_with(&[
        ("SESAME_SMTP_URL", smtp_url),
        ("SESAME_BASE_URL", "https://tokens.example.com"),
    ])
    .await
}

crate::both_backends! {
#[tokio::test]
async fn a_new_token_is_mailed_to_every_admin_once_and_to_nobody_else() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(&smtp.url()).await;
    let cast = app.cast().await;
    app.add_user("Acme", "second-admin@acme.test", Role::Admin);
    let token = app
        .create_token(
            &cast.admin,
            &[
                ("name", "Payroll sync"),
                ("expires_in", "30d"),
                ("allowed_ips", "203.0.113.0/24"),
            ],
        )
        .await;
    for _ in 0..3 {
        app.tick().await;
    }
    eventually("both admins' mail", || smtp.mails().len() >= 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let mails = smtp.mails();
    assert_eq!(
        mails.len(),
        2,
        "one per admin: {:?}",
        mails.iter().map(|m| &m.to).collect::<Vec<_>>()
    );
    for admin in ["admin@acme.test", "second-admin@acme.test"] {
        let mail = &smtp.mails_to(admin)[0];
        assert_eq!(mail.subject(), "New API token created: Payroll sync");
        assert!(mail
            .data
            .contains("If you do not recognise this token, revoke it immediately"));
        assert!(mail
            .data
            .contains(&format!("https://tokens.example.com/tokens/{}", token.id)));
        assert!(mail.data.contains("admin@acme.test"), "names the creator");
        assert!(mail.data.contains("203.0.113.0/24"), "lists the networks");
        assert!(!mail.data.contains(&token.password), "never the password");
    }
    for nobody in ["support@acme.test", "member@acme.test", "admin@globex.test"] {
        assert!(smtp.mails_to(nobody).is_empty(), "{nobody} got mail");
    }
}

#[tokio::test]
async fn the_creator_is_reminded_once_two_days_before_expiry_across_ticks_and_a_restart() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(&smtp.url()).await;
    let cast = app.cast().await;
    app.add_user("Acme", "creator@acme.test", Role::Admin);
    let creator = app.login("creator@acme.test").await;
    let token = app
        .create_token(
            &creator,
            &[("name", "Nightly export"), ("expires_in", "7d")],
        )
        .await;
    app.tick().await;
    eventually("the creation mails", || smtp.mails().len() == 2).await;
    let use_it = reqwest::Client::new()
        .get(app.url("/api/v1/whoami"))
        .basic_auth(&token.username, Some(&token.password))
        .send()
        .await
        .unwrap();
    assert_eq!(use_it.status(), StatusCode::OK);
    // Uses are written once a second (`api::recorder`).
    eventually("the use recorded", || {
        app.count("SELECT COUNT(*) AS n FROM api_tokens WHERE last_used_ip = '127.0.0.1'") == 1
    })
    .await;

    // Three days before expiry: nothing yet.
    app.clock.advance(Duration::days(4));
    assert_eq!(app.tick().await.reminders_queued, 0);
    // Within 48 hours: once, however often the scheduler runs, and after a restart.
    app.clock.advance(Duration::days(1) + Duration::hours(1));
    assert_eq!(app.tick().await.reminders_queued, 1);
    app.tick().await;
    let restarted = app.second_notifier();
    let again = tokio::task::spawn_blocking(move || restarted.tick().unwrap())
        .await
        .unwrap();
    assert_eq!(again.reminders_queued, 0);
    app.tick().await;

    let reminders: Vec<_> = smtp
        .mails()
        .into_iter()
        .filter(|m| m.subject().starts_with("API token expiring soon"))
        .collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].to, ["creator@acme.test"]);
    assert_eq!(
        reminders[0].subject(),
        "API token expiring soon: Nightly export"
    );
    assert!(
        reminders[0].data.contains("from 127.0.0.1"),
        "says where it was last used"
    );
    let body = app.text("SELECT body_text AS t FROM outbox WHERE kind = 'token_expiring'");
    let renew = format!("Renew: https://tokens.example.com/tokens/{}/renew", token.id);
    assert!(body.contains(&renew), "links to Renew: {body}");
    drop(cast);
}

#[tokio::test]
async fn revoked_and_expired_tokens_get_no_reminder() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(&smtp.url()).await;
    let cast = app.cast().await;
    let revoked = app
        .create_token(&cast.admin, &[("name", "Revoked"), ("expires_in", "7d")])
        .await;
    app.create_token(&cast.admin, &[("name", "Lapsed"), ("expires_in", "7d")])
        .await;
    app.post(&cast.admin, &format!("/tokens/{}/revoke", revoked.id), &[])
        .await;
    // The scheduler was not running while "Lapsed" passed through its last two days.
    app.clock.advance(Duration::days(7) + Duration::minutes(1));
    assert_eq!(app.tick().await.reminders_queued, 0);
    app.tick().await;
    assert!(smtp
        .mails()
        .iter()
        .all(|m| !m.subject().starts_with("API token expiring soon")));
}

#[tokio::test]
async fn with_smtp_down_notices_wait_and_then_all_arrive_exactly_once() {
    // A port with nobody listening, for now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = app_with_smtp(&format!("smtp://127.0.0.1:{port}")).await;
    let cast = app.cast().await;
    for name in ["one", "two", "three"] {
        app.create_named(&cast.admin, name).await;
    }
    let report = app.tick().await;
    assert_eq!(report.sent, 0);
    let waiting = "SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending' AND attempts >= 1 AND last_error IS NOT NULL";
    eventually("three notices waiting", || app.count(waiting) == 3).await;
    let page = app.get_html(&cast.admin, "/notifications").await;
    assert!(page.contains("badge-notice-pending") && page.contains("SMTP"));

    let smtp = SmtpServer::start_on(port);
    app.clock.advance(Duration::seconds(61));
    app.tick().await;
    app.tick().await;
    eventually("all three", || smtp.mails().len() >= 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut subjects: Vec<String> = smtp
        .mails()
        .iter()
        .map(|m| m.subject().to_string())
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "New API token created: one",
            "New API token created: three",
            "New API token created: two"
        ]
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM outbox WHERE status = 'sent'"),
        3
    );
}

#[tokio::test]
async fn after_a_day_of_failures_a_notice_is_failed_and_an_admin_can_retry_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = app_with_smtp(&format!("smtp://127.0.0.1:{port}")).await;
    let cast = app.cast().await;
    app.create_named(&cast.admin, "Unlucky").await;
    app.tick().await;
    // Retries keep failing for more than a day.
    for _ in 0..30 {
        app.clock.advance(Duration::hours(1));
        app.tick().await;
    }
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM outbox WHERE status = 'failed'"),
        1
    );
    let page = app.get_html(&cast.admin, "/notifications").await;
    assert!(page.contains("badge-notice-failed") && page.contains("Retry now"));
    let id = between(&page, "action=\"/notifications/", "/retry\"").unwrap();

    let smtp = SmtpServer::start_on(port);
    assert_eq!(
        app.post(&cast.support, &format!("/notifications/{id}/retry"), &[])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let retried = app
        .post(&cast.admin, &format!("/notifications/{id}/retry"), &[])
        .await;
    assert_eq!(retried.status(), StatusCode::SEE_OTHER);
    app.tick().await;
    eventually("the retried notice", || smtp.mails().len() == 1).await;
    assert_eq!(
        app.post(&cast.admin, &format!("/notifications/{id}/retry"), &[])
            .await
            .status(),
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn two_schedulers_on_one_database_send_each_notice_once() {
    let smtp = SmtpServer::start();
    // No SMTP until the tokens exist, so all their notices wait for the two schedulers.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = app_with_smtp(&format!("smtp://127.0.0.1:{port}")).await;
    let cast = app.cast().await;
    app.add_user("Acme", "second-admin@acme.test", Role::Admin);
    for i in 0..15 {
        app.create_named(&cast.admin, &format!("token {i}")).await;
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM outbox"), 30);
    drop(smtp);

    // Both schedulers now point at a live server, and race.
    let live = SmtpServer::start_on(port);
    app.clock.advance(Duration::hours(2));
    let (first, second) = (app.second_notifier(), app.second_notifier());
    let a = std::thread::spawn(move || (0..5).map(|_| first.tick().unwrap().sent).sum::<usize>());
    let b = std::thread::spawn(move || (0..5).map(|_| second.tick().unwrap().sent).sum::<usize>());
    // The app's own scheduler (woken by each creation) is a third sender in this race.
    let sent = a.join().unwrap() + b.join().unwrap();
    assert!(sent <= 30, "{sent}");
    // The app's own scheduler may still be finishing a notice it claimed.
    eventually("thirty notices sent", || {
        app.count("SELECT COUNT(*) AS n FROM outbox WHERE status = 'sent'") == 30
    })
    .await;
    eventually("thirty mails", || live.mails().len() >= 30).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mails = live.mails();
    assert_eq!(mails.len(), 30);
    let mut seen: Vec<(Vec<String>, String)> = mails
        .iter()
        .map(|m| (m.to.clone(), m.subject().to_string()))
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 30, "no notice twice");
}

#[tokio::test]
async fn without_smtp_mail_is_written_as_eml_files_in_the_data_directory() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    app.create_named(&cast.admin, "Filed").await;
    app.tick().await;
    let dir = app.settings.data_dir.join("mail");
    // The file may be seen before it is fully written: wait for the whole message.
    eventually("an .eml file with the notice", || {
        std::fs::read_dir(&dir)
            .map(|entries| {
                entries.filter_map(Result::ok).any(|e| {
                    e.path().extension().is_some_and(|x| x == "eml")
                        && std::fs::read_to_string(e.path()).is_ok_and(|text| {
                            text.contains("Subject: New API token created: Filed")
                        })
                })
            })
            .unwrap_or(false)
    })
    .await;
}

#[tokio::test]
async fn a_use_from_outside_the_whitelist_alerts_the_admins_at_most_hourly() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(&smtp.url()).await;
    let cast = app.cast().await;
    let token = app
        .create_token(
            &cast.admin,
            &[
                ("name", "Fenced"),
                ("expires_in", "7d"),
                ("allowed_ips", "10.0.0.0/8"),
            ],
        )
        .await;
    let call = || {
        reqwest::Client::new()
            .get(app.url("/api/v1/whoami"))
            .basic_auth(&token.username, Some(&token.password))
            .send()
    };
    assert_eq!(call().await.unwrap().status(), StatusCode::FORBIDDEN);
    let alerts = "SELECT COUNT(*) AS n FROM outbox WHERE kind = 'token_ip_alert'";
    eventually("the alert notice", || app.count(alerts) == 1).await;
    // Later in the hour (across a clock hour too), the audit log hears of it again, but
    // no second e-mail is queued.
    app.clock.advance(Duration::minutes(59));
    assert_eq!(call().await.unwrap().status(), StatusCode::FORBIDDEN);
    eventually("the second audit event", || {
        app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'token.ip_denied'") == 2
    })
    .await;
    assert_eq!(app.count(alerts), 1);
    // After the hour, a new use alerts again.
    app.clock.advance(Duration::minutes(2));
    assert_eq!(call().await.unwrap().status(), StatusCode::FORBIDDEN);
    eventually("the next hour's alert", || app.count(alerts) == 2).await;
    app.tick().await;
    eventually("the alert mail", || {
        smtp.mails()
            .iter()
            .any(|m| m.subject().contains("does not allow: Fenced"))
    })
    .await;
    assert!(smtp
        .mails_to("admin@acme.test")
        .iter()
        .any(|m| m.data.contains("127.0.0.1")));
}
}
