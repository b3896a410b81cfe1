//! An administrator's whole day, from first-run setup to Expired & Revoked, on a desktop, on a
//! phone and with JavaScript off.

use super::{shown_credentials, whoami, Browser, Options, Viewport};
use crate::helpers::{spawn_app, PASSWORD};
use chrono::{Days, Utc};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_up_creates_copies_uses_updates_and_revokes_a_token_on_a_desktop() {
    admin_journey(Options::DESKTOP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_journey_works_on_a_390_px_phone() {
    admin_journey(Options::MOBILE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_journey_works_with_javascript_off() {
    admin_journey(Options::NO_JAVASCRIPT).await;
}

async fn admin_journey(options: Options) {
    let app = spawn_app().await;
    let Some(mut b) = Browser::open("admin", &app.address, options).await else {
        return;
    };
    let js = options.javascript;

    // First run: the setup page, with the code from the server's log.
    b.visit("/").await;
    b.expect_path("/setup").await;
    let dark = b
        .script("return matchMedia('(prefers-color-scheme: dark)').matches")
        .await;
    assert_eq!(
        dark,
        serde_json::json!(options.viewport == Viewport::Mobile)
    );
    assert_eq!(
        b.script("return document.documentElement.classList.contains('js')")
            .await,
        serde_json::json!(js),
        "app.js runs exactly when JavaScript is on"
    );
    b.check_page("setup").await;
    b.fill("#setup_code", app.setup_code.as_deref().unwrap())
        .await;
    b.fill("#account_name", "Acme").await;
    b.fill("#email", "admin@acme.test").await;
    b.fill("#password", PASSWORD).await;
    b.fill("#password_confirm", PASSWORD).await;
    b.click("form[action='/setup'] button[type=submit]").await;
    b.expect_path("/dashboard").await;
    assert!(b.exists(".flash").await, "a flash message after setup");
    assert!(b.text("main").await.contains("No active token expires"));
    b.check_page("dashboard-empty").await;

    // Sign out and in again.
    b.click("form[action='/logout'] button").await;
    b.expect_path("/login").await;
    assert!(b.text(".flash").await.contains("signed out"));
    b.check_page("login").await;
    b.fill("#email", "admin@acme.test").await;
    b.fill("#password", "not the password").await;
    b.click("form[action='/login'] button[type=submit]").await;
    assert!(b.exists("#login-error").await, "a failed sign-in says so");
    b.check_page("login-failed").await;
    b.fill("#email", "admin@acme.test").await;
    b.fill("#password", PASSWORD).await;
    b.click("form[action='/login'] button[type=submit]").await;
    b.expect_path("/dashboard").await;

    // API Tokens is empty and says what to do; Add Token from there.
    b.click("nav a[href='/tokens']").await;
    b.expect_path("/tokens").await;
    assert!(b.text(".empty").await.contains("Add a token"));
    b.check_page("tokens-empty").await;
    b.click("main a[href='/tokens/new']").await;
    b.expect_path("/tokens/new").await;
    b.check_page("new-token").await;

    // A bad submission shows each error beside its field and keeps what was typed.
    b.fill("#allowed_ips", "not-an-ip").await;
    b.click("#token-form button[type=submit]").await;
    assert!(b.exists("#name-error").await);
    assert!(b.exists("#allowed_ips-error").await);
    b.check_page("new-token-errors").await;

    // A custom date and IP networks; the 3-month warning follows the date as it is chosen.
    let today = Utc::now().date_naive();
    b.fill("#name", "Nightly export").await;
    b.fill("#description", "BI pulls the day's orders").await;
    b.fill("#allowed_ips", "127.0.0.1/32\n10.20.0.0/16, 2001:db8::/32")
        .await;
    b.select("#expires_in", "custom").await;
    b.fill_date("#expires_on", today + Days::new(120)).await;
    assert!(b.displayed("#expiry-warning").await, "over 3 months warns");
    if js {
        b.script("document.getElementById('expiry-warning').scrollIntoView({block: 'center'})")
            .await;
        b.check_page("new-token-warning").await;
        b.fill_date("#expires_on", today + Days::new(45)).await;
        assert!(
            !b.displayed("#expiry-warning").await,
            "the warning goes as soon as the date is within 3 months"
        );
        b.select("#expires_in", "180d").await;
        assert!(b.displayed("#expiry-warning").await, "presets warn too");
        b.select("#expires_in", "custom").await;
        assert!(!b.displayed("#expiry-warning").await);
    } else {
        b.fill_date("#expires_on", today + Days::new(45)).await;
    }
    b.click("#token-form button[type=submit]").await;

    // The credentials, shown once here, with copy buttons that fill the clipboard.
    assert!(b.text("h1").await.contains("Token created"));
    let credentials = shown_credentials(&b).await;
    assert!(credentials.0.len() > 8 && credentials.1.len() > 20);
    b.check_page("credentials").await;
    let copy_username = "button[data-copy='token-username']";
    let copy_password = "button[data-copy='token-password']";
    if js {
        b.grant_clipboard().await;
        // The button says so once the browser has written the clipboard.
        b.tap(copy_username).await;
        b.wait_for_text(copy_username, "Copied").await;
        b.wait_for_clipboard(&credentials.0).await;
        b.tap(copy_password).await;
        b.wait_for_clipboard(&credentials.1).await;
    } else {
        assert!(!b.displayed(copy_username).await, "no dead copy buttons");
    }

    // A client program uses them, from an allowed address.
    let answer = whoami(&app.address, &credentials).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["token"]["name"], "Nightly export");
    let expires = (today + Days::new(46)).format("%Y-%m-%d").to_string();
    assert!(
        body["token"]["expires_at"]
            .as_str()
            .unwrap()
            .starts_with(&expires),
        "expires at the end of the chosen day: {body}"
    );

    // Its page: update the name and the networks.
    b.click("#token-page-link").await;
    assert!(b.path().await.starts_with("/tokens/"));
    b.check_page("token").await;
    // Times read relative ("in 46 days"), with the exact UTC time on hover.
    let time = b.find("time[datetime]").await;
    let hover = time.attr("title").await.unwrap().unwrap_or_default();
    assert!(hover.ends_with("UTC"), "{hover}");
    assert!(!time.text().await.unwrap().contains("UTC"));
    b.fill("#update-form #name", "Nightly export v2").await;
    b.fill("#update-form #allowed_ips", "127.0.0.1").await;
    b.click("#update-form button[type=submit]").await;
    assert!(b.exists(".flash").await, "a flash message after the update");
    assert!(b.text("h1").await.contains("Nightly export v2"));
    b.check_page("token-updated").await;
    let token_page = b.path().await;

    // Its calls: the client's one shows within a usage tick, in the chart (SVG, no script)
    // and in the table behind it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while b.text("#usage-30d-accepted").await != "1" {
        assert!(
            std::time::Instant::now() < deadline,
            "the call did not show within 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        b.visit(&token_page).await;
    }
    assert!(b.exists("#usage-chart rect.chart-bar").await, "today's bar");
    b.tap("#usage summary").await;
    assert!(b.displayed("#usage-table").await);
    b.check_page("token-usage").await;

    // The list, and a search.
    b.visit("/tokens?q=nightly").await;
    assert!(b.text("main").await.contains("Nightly export v2"));
    b.check_page("tokens-search").await;

    // Dashboard: the counts and the chart.
    b.click("nav a[href='/dashboard']").await;
    assert!(b.exists("main svg").await, "the expiry chart");
    b.check_page("dashboard").await;

    // Revoke, after a confirmation, with a reason: effective at once. The confirmation is a
    // page of its own too (for links from elsewhere).
    b.visit(&format!("{token_page}/revoke")).await;
    assert!(b.exists("#confirm-revoke").await);
    b.check_page("revoke-page").await;
    b.visit(&token_page).await;
    // A plain <details>: it opens with or without JavaScript.
    b.tap("#revoke summary").await;
    assert!(b.displayed("#confirm-revoke").await);
    b.fill("#revoke-form #reason", "Rotated after the audit")
        .await;
    b.check_page("revoke-confirm").await;
    b.click("#confirm-revoke").await;
    b.expect_path("/tokens/inactive").await;
    assert!(b.exists(".flash").await);
    let listed = b.text("main").await;
    assert!(listed.contains("Nightly export v2") && listed.contains("Rotated after the audit"));
    b.check_page("inactive").await;
    assert_eq!(
        whoami(&app.address, &credentials).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // An inactive token cannot be revoked again; the page says why.
    b.visit(&format!("{token_page}/revoke")).await;
    assert!(b.text("#error-message").await.contains("no longer active"));
    b.check_page("revoke-again").await;
    b.visit("/dashboard").await;

    // The remaining admin pages.
    for (link, label) in [
        ("nav a[href='/users']", "users"),
        ("nav a[href='/notifications']", "notifications"),
        ("nav a[href='/audit']", "audit"),
    ] {
        b.click(link).await;
        b.check_page(label).await;
    }
    assert!(b.text("main").await.contains("Nightly export v2"));
    b.visit("/tokens/no-such-token").await;
    assert!(b.text("#error-message").await.contains("nothing here"));
    b.check_page("not-found").await;

    b.visit("/dashboard").await;
    b.click("form[action='/logout'] button").await;
    b.visit("/forgot").await;
    b.check_page("forgot").await;
    b.close().await;
}
