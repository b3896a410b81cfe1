//! Support review (filters, CSV export) and renewing a token.

use crate::helpers::*;
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use sesame::domain::Role;

fn names_listed(html: &str) -> Vec<String> {
    html.split("data-label=\"Name\"><a href=\"/tokens/")
        .skip(1)
        .filter_map(|rest| between(rest, "\">", "</a>"))
        .collect()
}

crate::both_backends! {
#[tokio::test]
async fn support_filters_expired_and_revoked_and_exports_safe_csv() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    app.add_user("Acme", "second@acme.test", Role::Admin);
    let second = app.login("second@acme.test").await;
    let alpha = app.create_named(&cast.admin, "Alpha").await;
    app.create_token(&cast.admin, &[("name", "Beta"), ("expires_in", "7d")]).await;
    let gamma = app.create_named(&second, "Gamma").await;
    let evil = app.create_named(&cast.admin, "=cmd|' /C calc'!A0").await;
    for (token, reason) in [(&alpha, "leaked"), (&gamma, "rotation"), (&evil, "@SUM(1+1)")] {
        app.post(&cast.admin, &format!("/tokens/{}/revoke", token.id), &[("reason", reason)]).await;
    }
    let today = Utc::now().date_naive();
    app.clock.advance(Duration::days(8));

    let list = |query: &'static str| {
        let (app, support) = (&app, &cast.support);
        async move {
            let mut names = names_listed(&app.get_html(support, &format!("/tokens/inactive{query}")).await);
            names.sort();
            names
        }
    };
    assert_eq!(list("").await.len(), 4);
    assert_eq!(list("?status=revoked").await.len(), 3);
    assert_eq!(list("?status=expired").await, ["Beta"]);
    assert_eq!(list("?creator=SECOND").await, ["Gamma"]);
    // Four letters, any case: a random username holds them by chance once in ~50,000 runs
    // (three letters matched one of these in a CI run).
    assert_eq!(list("?q=aLpH").await, ["Alpha"]);
    let on_the_day = format!("?from={today}&to={today}");
    let revoked_today = names_listed(&app.get_html(&cast.support, &format!("/tokens/inactive{on_the_day}")).await);
    assert_eq!(revoked_today.len(), 3, "revoked that day; Beta expired a week later");
    let bad = app.get(&cast.support, "/tokens/inactive?from=yesterday").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    for extreme in ["?to=%2B262142-12-31", "?from=-5000-01-01", "?to=9999-12-31"] {
        let status = app.get(&cast.support, &format!("/tokens/inactive{extreme}")).await.status();
        assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::OK, "{extreme}: {status}");
    }
    assert!(element_text(&bad.text().await.unwrap(), "filter-error").unwrap().contains("YYYY-MM-DD"));

    let export = app.get(&cast.support, "/tokens/inactive.csv?status=revoked").await;
    assert_eq!(export.status(), StatusCode::OK);
    assert!(export.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(export.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    let csv = export.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "status,ended_at,revoked_by,reason,name,username,created_by,created_at,expires_at");
    assert_eq!(lines.len(), 1 + 3);
    assert!(csv.contains("'=cmd|' /C calc'!A0"), "{csv}");
    assert!(csv.contains("'@SUM(1+1)"));
    for cell in csv.lines().flat_map(|l| l.split(',')) {
        let cell = cell.trim_matches('"');
        assert!(!cell.starts_with('=') && !cell.starts_with('@') && !cell.starts_with('+'), "unsafe cell {cell:?}");
    }
    for token in [&alpha, &gamma, &evil] {
        assert!(!csv.contains(&token.password));
    }
    assert_eq!(app.get(&cast.member, "/tokens/inactive.csv").await.status(), StatusCode::FORBIDDEN);
    let other = app.get(&cast.other_admin, "/tokens/inactive.csv").await.text().await.unwrap();
    assert_eq!(other.lines().count(), 1, "another account's export is empty");
}

#[tokio::test]
async fn renewing_copies_the_settings_and_revokes_the_old_token_as_chosen() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let old = app
        .create_token(&cast.admin, &[("name", "Rotating"), ("expires_in", "30d"), ("description", "ETL"), ("allowed_ips", "127.0.0.1\n10.0.0.0/8")])
        .await;
    let form = app.get_html(&cast.admin, &format!("/tokens/{}/renew", old.id)).await;
    assert!(form.contains("value=\"Rotating\"") && form.contains("ETL") && form.contains("10.0.0.0/8"));
    assert!(form.contains("name=\"renews\"") && form.contains("value=\"first_use\""));

    // At first use: both work until the new one is used; then only the new one.
    let renew = |revoke_old: &'static str| {
        let (app, admin, old_id) = (&app, &cast.admin, old.id.clone());
        async move {
            app.create_token(
                admin,
                &[("name", "Rotating"), ("expires_in", "90d"), ("description", "ETL"), ("allowed_ips", "127.0.0.1\n10.0.0.0/8"), ("renews", &old_id), ("revoke_old", revoke_old)],
            )
            .await
        }
    };
    let new = renew("first_use").await;
    let page = app.get_html(&cast.admin, &format!("/tokens/{}", new.id)).await;
    assert!(page.contains("ETL") && page.contains("10.0.0.0/8"));
    // Both pages say how the two are linked.
    let replaces = between(&page, "id=\"replaces\">", "</p>").unwrap();
    assert!(replaces.contains(&format!("href=\"/tokens/{}\"", old.id)), "{replaces}");
    let old_page = app.get_html(&cast.support, &format!("/tokens/{}", old.id)).await;
    let replaced_by = between(&old_page, "id=\"replaced-by\">", "</p>").unwrap();
    assert!(replaced_by.starts_with("Will be replaced by") && replaced_by.contains("at its first use"), "{replaced_by}");
    assert_eq!(app.whoami(&old).await, StatusCode::OK);
    assert_eq!(app.whoami(&new).await, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.whoami(&old).await != StatusCode::UNAUTHORIZED {
        assert!(std::time::Instant::now() < deadline, "the old token still works");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let ended = app.get_html(&cast.admin, "/tokens/inactive").await;
    assert!(ended.contains("revoked automatically when its renewal was first used"), "{ended}");
    let old_page = app.get_html(&cast.admin, &format!("/tokens/{}", old.id)).await;
    assert!(between(&old_page, "id=\"replaced-by\">", "</p>").unwrap().starts_with("Replaced by"));
    assert!(old_page.contains("automatically</dd>"), "revoked by nobody: {old_page}");
    // The result page of a renewal says so, and what became of the old token.
    let kept = app.create_named(&cast.admin, "Kept on").await;
    let result = app
        .post(&cast.admin, "/tokens", &[("name", "Kept on"), ("expires_in", "30d"), ("renews", &kept.id), ("revoke_old", "keep")])
        .await
        .text()
        .await
        .unwrap();
    assert!(result.contains("<h1>Token renewed</h1>"), "{result}");
    assert!(element_text(&result, "renewed-note").unwrap().contains("keeps working until it expires"));
    // Credited to the system, not to the admin who renewed it.
    let row = between(&ended, "data-label=\"Revoked by\">", "</td>").unwrap();
    assert_eq!(row, "<span class=\"muted\">automatically</span>");
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM api_tokens WHERE id = '{}' AND revoked_by IS NULL", old.id)),
        1
    );
    assert_eq!(app.whoami(&new).await, StatusCode::OK);

    // Now: the old one stops at once. Keep: both stay.
    let now_old = app.create_named(&cast.admin, "Immediate").await;
    let _ = app
        .create_token(&cast.admin, &[("name", "Immediate"), ("expires_in", "30d"), ("renews", &now_old.id), ("revoke_old", "now")])
        .await;
    assert_eq!(app.whoami(&now_old).await, StatusCode::UNAUTHORIZED);
    let kept = app.create_named(&cast.admin, "Kept").await;
    let successor = app
        .create_token(&cast.admin, &[("name", "Kept"), ("expires_in", "30d"), ("renews", &kept.id), ("revoke_old", "keep")])
        .await;
    assert_eq!(app.whoami(&successor).await, StatusCode::OK);
    // The use is recorded (in the same transaction as a first-use revoke would be).
    let used = format!(
        "SELECT COUNT(*) AS n FROM api_tokens WHERE id = '{}' AND last_used_at IS NOT NULL",
        successor.id
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.count(&used) == 0 {
        assert!(std::time::Instant::now() < deadline, "the use was not recorded");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.whoami(&kept).await, StatusCode::OK);

    // A revoked token is renewed too (how a leaked one is replaced), with nothing to revoke;
    // so is an expired one.
    let form = app.get_html(&cast.admin, &format!("/tokens/{}/renew", now_old.id)).await;
    assert!(!form.contains("revoke_old"));
    let lapsed = app.create_token(&cast.admin, &[("name", "Lapsed"), ("expires_in", "7d")]).await;
    app.clock.advance(Duration::days(8));
    let form = app.get_html(&cast.admin, &format!("/tokens/{}/renew", lapsed.id)).await;
    assert!(!form.contains("revoke_old"));
    assert_eq!(app.get(&cast.support, &format!("/tokens/{}/renew", lapsed.id)).await.status(), StatusCode::FORBIDDEN);
}
}
