//! The other people: a support user invited by e-mail who reviews tokens read-only, and the
//! person who receives credentials through a hand-off link in a browser of their own.

use super::{shown_credentials, whoami, Browser, Options};
use crate::helpers::{spawn_app_with, TestApp, PASSWORD};
use crate::smtp::SmtpServer;
use reqwest::StatusCode;
use sesame::domain::Role;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_reviews_and_a_hand_off_is_revealed_once_in_a_fresh_profile_on_a_desktop() {
    people_journey(Options::DESKTOP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_review_and_hand_off_work_on_a_390_px_phone() {
    people_journey(Options::MOBILE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_review_and_hand_off_work_with_javascript_off() {
    people_journey(Options::NO_JAVASCRIPT).await;
}

async fn sign_in(b: &Browser, email: &str) {
    b.visit("/login").await;
    b.fill("#email", email).await;
    b.fill("#password", PASSWORD).await;
    b.click("form[action='/login'] button[type=submit]").await;
    b.expect_path("/dashboard").await;
}

/// The path of the invitation link e-mailed to `to`.
async fn invitation(smtp: &SmtpServer, to: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mail = loop {
        if let Some(mail) = smtp.mails_to(to).pop() {
            break mail;
        }
        assert!(Instant::now() < deadline, "no invitation for {to}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let start = mail
        .data
        .find("/invite/")
        .expect("a link in the invitation");
    mail.data[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "/-_".contains(*c))
        .collect()
}

async fn people_journey(options: Options) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(&[("SESAME_SMTP_URL", &smtp.url())]).await;
    app.add_user("Acme", "admin@acme.test", Role::Admin);
    let Some(mut admin) = Browser::open("people-admin", &app.address, options).await else {
        return;
    };
    sign_in(&admin, "admin@acme.test").await;

    // The admin makes a token for a partner, with the dashboard's Add Token button.
    admin.click("main a[href='/tokens/new']").await;
    admin.fill("#name", "Partner feed").await;
    admin.select("#expires_in", "30d").await;
    admin.click("#token-form button[type=submit]").await;
    admin.click("#token-page-link").await;
    let token_page = admin.path().await;

    // …and a hand-off link for them instead of the credentials themselves.
    admin.click("#create-handoff").await;
    let link = admin.text("#handoff-url").await;
    assert!(
        link.starts_with(&format!("{}/handoff/", app.address)),
        "{link}"
    );
    admin.check_page("handoff-created").await;

    // Support is invited from the Users page.
    admin.click("nav a[href='/users']").await;
    admin.fill("#invite-email", "reviewer@acme.test").await;
    admin.select("#invite-role", "support").await;
    admin.click("#invite-form button[type=submit]").await;
    assert!(admin.text(".flash").await.contains("reviewer@acme.test"));
    admin.check_page("users-invited").await;
    let invite = invitation(&smtp, "reviewer@acme.test").await;
    admin.close().await;

    hand_off(&app, &link, options).await;
    support_review(&app, &invite, &token_page, options).await;
}

/// The partner opens the link in a browser that has never seen Sesame: one reveal, then 410.
async fn hand_off(app: &TestApp, link: &str, options: Options) {
    let mut partner = Browser::open("handoff", &app.address, options)
        .await
        .expect("the browser opened before");
    partner.visit(link.trim_start_matches(&app.address)).await;
    assert!(partner.exists("#reveal").await);
    assert!(
        !partner.exists("#token-password").await,
        "GET reveals nothing"
    );
    partner.check_page("handoff-reveal").await;
    partner.click("#reveal").await;
    let credentials = shown_credentials(&partner).await;
    partner.check_page("handoff-credentials").await;
    assert_eq!(
        whoami(&app.address, &credentials).await.status(),
        StatusCode::OK
    );
    partner.visit(link.trim_start_matches(&app.address)).await;
    assert!(partner.text("#error-message").await.len() > 10);
    assert!(
        !partner.exists("#reveal").await,
        "a used link offers nothing"
    );
    partner.check_page("handoff-used").await;
    partner.close().await;
}

/// Support sets a password through the invitation and reviews, without any way to change.
async fn support_review(app: &TestApp, invite: &str, token_page: &str, options: Options) {
    let mut support = Browser::open("support", &app.address, options)
        .await
        .expect("the browser opened before");
    support.visit(invite).await;
    support.check_page("invitation").await;
    support
        .fill("#password", "violet tractor summit ocean")
        .await;
    support
        .fill("#password_confirm", "violet tractor summit ocean")
        .await;
    support.click("form button[type=submit]").await;
    support.check_page("invitation-accepted").await;
    if support.path().await == "/login" {
        support.fill("#email", "reviewer@acme.test").await;
        support
            .fill("#password", "violet tractor summit ocean")
            .await;
        support
            .click("form[action='/login'] button[type=submit]")
            .await;
    }
    support.expect_path("/dashboard").await;
    assert!(
        !support.exists("main a[href='/tokens/new']").await,
        "support cannot add tokens"
    );
    assert!(!support.exists("nav a[href='/users']").await);
    support.check_page("support-dashboard").await;

    support.click("nav a[href='/tokens']").await;
    assert!(support.text("main").await.contains("Partner feed"));
    support.check_page("support-tokens").await;

    support.visit(token_page).await;
    for control in [
        "#update-form",
        "#revoke",
        "#retrieve-credentials",
        "#handoff-form",
    ] {
        assert!(!support.exists(control).await, "support sees no {control}");
    }
    support.check_page("support-token").await;

    // Expired & Revoked, filtered: nothing has ended yet, and the page says so.
    support.click("nav a[href='/tokens/inactive']").await;
    support.select("#status", "revoked").await;
    support.fill("#creator", "admin@acme.test").await;
    support.click("form.filters button[type=submit]").await;
    assert!(support.path().await.contains("status=revoked"));
    assert!(support
        .text(".empty")
        .await
        .contains("matches these filters"));
    support.check_page("support-inactive-filtered").await;
    support.close().await;
}
