//! The token lifecycle as an admin and a support user see it.

use crate::helpers::*;
use chrono::{Duration, Utc};
use reqwest::StatusCode;

fn count_in(html: &str, id: &str) -> String {
    let at = html.find(&format!("id=\"{id}\"")).expect(id);
    between(&html[at..], "class=\"stat-value\">", "<").unwrap()
}

crate::both_backends! {
#[tokio::test]
async fn an_admin_creates_a_token_with_a_custom_date_and_networks_and_gets_its_credentials() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let day = (Utc::now().date_naive() + Duration::days(20)).to_string();
    let response = app
        .post(
            &cast.admin,
            "/tokens",
            &[
                ("name", "Nightly export"),
                ("expires_in", "custom"),
                ("expires_on", &day),
                ("description", "BI warehouse loader"),
                ("allowed_ips", "10.1.2.3/8\n2001:db8::/32, 203.0.113.7"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    let html = response.text().await.unwrap();
    let username = element_text(&html, "token-username").unwrap();
    let password = element_text(&html, "token-password").unwrap();
    assert!(
        username.starts_with("tok_") && username.len() == 24,
        "{username}"
    );
    assert!(
        sesame::tokens::password_format::is_valid(&password),
        "a recognisable password (prefix and checksum): {password}"
    );
    let id = token_id_in(&html);

    // Expires at the end of the chosen day, UTC.
    let end_of_day = (Utc::now().date_naive() + Duration::days(21)).to_string();
    let page = app.get_html(&cast.admin, &format!("/tokens/{id}")).await;
    assert!(
        page.contains(&format!("{end_of_day} 00:00 UTC")),
        "expiry shown"
    );
    for network in ["10.0.0.0/8", "2001:db8::/32", "203.0.113.7"] {
        assert!(page.contains(network), "{network} listed");
    }
    assert!(page.contains("BI warehouse loader"));
    assert!(
        !page.contains(&password),
        "the token page never shows the password"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM api_tokens WHERE id = '{id}' AND expires_at = '{end_of_day} 00:00:00'"
        )),
        1,
        "stored as SQLite's own UTC text"
    );

    let list = app.get_html(&cast.admin, "/tokens").await;
    assert!(
        list.contains("Nightly export")
            && list.contains(&username)
            && list.contains("admin@acme.test")
    );
    assert!(!list.contains(&password));

    // Retrieve again: the same credentials, not cacheable, audited.
    let again = app
        .post(&cast.admin, &format!("/tokens/{id}/credentials"), &[])
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers().get("cache-control").unwrap(), "no-store");
    let again = again.text().await.unwrap();
    assert_eq!(element_text(&again, "token-username").unwrap(), username);
    assert_eq!(element_text(&again, "token-password").unwrap(), password);
    let audit = app.get_html(&cast.admin, "/audit").await;
    assert!(audit.contains("token.create") && audit.contains("token.credentials_viewed"));
}

#[tokio::test]
async fn a_lifetime_over_three_months_is_allowed_with_a_warning() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let form = app.get_html(&cast.admin, "/tokens/new").await;
    assert!(form.contains("We recommend tokens of at most 3 months"));
    let response = app
        .post(
            &cast.admin,
            "/tokens",
            &[("name", "Long one"), ("expires_in", "365d")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("longer than 3 months"));
    let short = app
        .post(
            &cast.admin,
            "/tokens",
            &[("name", "Short one"), ("expires_in", "30d")],
        )
        .await;
    assert!(!short.text().await.unwrap().contains("longer than 3 months"));
}

#[tokio::test]
async fn an_admin_updates_name_description_and_networks() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app
        .create_token(
            &cast.admin,
            &[
                ("name", "Old name"),
                ("expires_in", "30d"),
                ("allowed_ips", "192.0.2.0/24"),
            ],
        )
        .await;
    let path = format!("/tokens/{}", token.id);
    let response = app
        .post(
            &cast.admin,
            &path,
            &[
                ("name", "New name"),
                ("description", "now documented"),
                ("allowed_ips", "198.51.100.0/24\n::1"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), path);
    let page = app.get_html(&cast.admin, &path).await;
    assert!(page.contains("Token updated."), "flash message");
    assert!(page.contains("New name") && page.contains("now documented"));
    assert!(page.contains("198.51.100.0/24") && page.contains("::1"));
    assert!(!page.contains("192.0.2.0/24"));
    let audit = app.get_html(&cast.admin, "/audit").await;
    assert!(audit.contains("token.update"));

    // The credentials do not change with an update.
    let credentials = app
        .post(&cast.admin, &format!("{path}/credentials"), &[])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        element_text(&credentials, "token-password").unwrap(),
        token.password
    );
}

#[tokio::test]
async fn a_revoked_token_moves_to_expired_and_revoked_and_becomes_read_only() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Leaked CI token").await;
    let path = format!("/tokens/{}", token.id);

    let confirm = app.get_html(&cast.admin, &format!("{path}/revoke")).await;
    assert!(confirm.contains("Yes, revoke it now"));
    let response = app
        .post(
            &cast.admin,
            &format!("{path}/revoke"),
            &[("reason", "posted in a public gist")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/tokens/inactive");

    let inactive = app.get_html(&cast.admin, "/tokens/inactive").await;
    assert!(inactive.contains("Leaked CI token"));
    assert!(inactive.contains("badge-revoked"));
    assert!(inactive.contains("posted in a public gist"));
    assert!(
        inactive.matches("admin@acme.test").count() >= 2,
        "revoked by and created by"
    );
    assert!(!app
        .get_html(&cast.admin, "/tokens")
        .await
        .contains("Leaked CI token"));

    let page = app.get_html(&cast.admin, &path).await;
    assert!(
        !page.contains("update-form")
            && !page.contains("retrieve-credentials")
            && !page.contains("revoke-form")
    );
    for (sub, fields) in [
        ("", vec![("name", "x")]),
        ("/credentials", vec![]),
        ("/revoke", vec![]),
    ] {
        let response = app
            .post(&cast.admin, &format!("{path}{sub}"), &fields)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CONFLICT,
            "POST {sub} on a revoked token"
        );
    }
    // The name is free again for a new active token.
    app.create_named(&cast.admin, "Leaked CI token").await;
}

#[tokio::test]
async fn a_token_moves_to_expired_when_its_time_passes() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    app.create_token(&cast.admin, &[("name", "Weekly job"), ("expires_in", "7d")])
        .await;
    app.create_token(
        &cast.admin,
        &[("name", "Quarterly job"), ("expires_in", "90d")],
    )
    .await;

    let dashboard = app.get_html(&cast.admin, "/dashboard").await;
    assert!(dashboard.contains("Weekly job"), "expiring soon lists it");
    assert_eq!(count_in(&dashboard, "count-active"), "2");
    assert_eq!(count_in(&dashboard, "count-expiring"), "1");

    app.clock.advance(Duration::days(8));
    let list = app.get_html(&cast.admin, "/tokens").await;
    assert!(!list.contains("Weekly job") && list.contains("Quarterly job"));
    let inactive = app.get_html(&cast.admin, "/tokens/inactive").await;
    assert!(inactive.contains("Weekly job") && inactive.contains("badge-expired"));
    assert!(!inactive.contains("Quarterly job"));
    let dashboard = app.get_html(&cast.admin, "/dashboard").await;
    assert_eq!(count_in(&dashboard, "count-active"), "1");
    assert_eq!(count_in(&dashboard, "count-expired"), "1");
    assert_eq!(count_in(&dashboard, "count-revoked"), "0");
}

#[tokio::test]
async fn the_token_list_is_paginated_and_searchable() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    for i in 0..27 {
        app.create_named(&cast.admin, &format!("service-{i:02}"))
            .await;
    }
    app.create_named(&cast.admin, "100% coverage_bot").await;

    let first = app.get_html(&cast.admin, "/tokens").await;
    assert_eq!(first.matches("<tr>").count(), 1 + 25);
    assert!(first.contains("Page 1 of 2") && first.contains("/tokens?page=2"));
    let second = app.get_html(&cast.admin, "/tokens?page=2").await;
    assert_eq!(second.matches("<tr>").count(), 1 + 3);

    let found = app.get_html(&cast.admin, "/tokens?q=SERVICE-1").await;
    assert_eq!(
        found.matches("<tr>").count(),
        1 + 10,
        "case-insensitive substring search"
    );
    // LIKE wildcards in the query are literal characters.
    let literal = app.get_html(&cast.admin, "/tokens?q=0%25").await;
    assert_eq!(
        literal.matches("<tr>").count(),
        1 + 1,
        "only \"100% coverage_bot\""
    );
    let underscore = app.get_html(&cast.admin, "/tokens?q=e_0").await;
    assert!(
        underscore.contains("No active token matches"),
        "_ is not a wildcard"
    );
    let none = app
        .get_html(&cast.admin, "/tokens?q=nothing-like-this")
        .await;
    assert!(none.contains("No active token matches"));
    // Past the end goes to the last page; junk page numbers mean page 1.
    let beyond = app.get(&cast.admin, "/tokens?page=999&q=service").await;
    assert_eq!(beyond.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&beyond), "/tokens?page=2&q=service");
    assert_eq!(
        app.get(&cast.admin, "/tokens?page=-3").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&cast.admin, "/tokens?page=abc").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn support_reviews_tokens_read_only_and_never_sees_a_password() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Reviewed token").await;
    let revoked = app.create_named(&cast.admin, "Old token").await;
    app.post(&cast.admin, &format!("/tokens/{}/revoke", revoked.id), &[])
        .await;

    for path in [
        "/dashboard",
        "/tokens",
        "/tokens/inactive",
        &format!("/tokens/{}", token.id),
    ] {
        let html = app.get_html(&cast.support, path).await;
        assert!(
            !html.contains(&token.password) && !html.contains(&revoked.password),
            "{path}"
        );
        assert!(
            !html.contains("/credentials") && !html.contains("/revoke\""),
            "{path} offers no action"
        );
        assert!(!html.contains("Add Token"), "{path}");
    }
    let credentials = app
        .post(
            &cast.support,
            &format!("/tokens/{}/credentials", token.id),
            &[],
        )
        .await;
    assert_eq!(credentials.status(), StatusCode::FORBIDDEN);
    assert!(!credentials.text().await.unwrap().contains(&token.password));
}

#[tokio::test]
async fn empty_pages_say_what_to_do() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    assert!(app
        .get_html(&cast.admin, "/tokens")
        .await
        .contains("No active tokens yet"));
    assert!(app
        .get_html(&cast.admin, "/tokens/inactive")
        .await
        .contains("No expired or revoked tokens"));
    let dashboard = app.get_html(&cast.admin, "/dashboard").await;
    assert!(dashboard.contains("id=\"add-token\""));
    assert!(dashboard.contains("No active token expires in the next 7 days"));
}
}
