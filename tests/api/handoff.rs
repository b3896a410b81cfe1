//! One-time hand-off links: GET consumes nothing, POST reveals once, then 410.

use crate::helpers::*;
use crate::smtp::SmtpServer;
use chrono::Duration;
use reqwest::StatusCode;

/// The path of a new hand-off link for the token, made by this admin.
async fn handoff(app: &TestApp, admin: &Session, token: &Created, email: &str) -> String {
    let response = app
        .post(
            admin,
            &format!("/tokens/{}/handoff", token.id),
            &[("email", email)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    let url = element_text(&html, "handoff-url").expect("#handoff-url");
    // The link names the port the server really listens on.
    let path = url
        .strip_prefix(&app.settings.base_url.to_string())
        .map(|p| format!("/{p}"))
        .unwrap();
    assert!(
        path.starts_with("/handoff/") && path.len() > "/handoff/".len() + 40,
        "{path}"
    );
    path
}

crate::both_backends! {
#[tokio::test]
async fn a_handoff_link_reveals_the_credentials_once() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "For the contractor").await;
    let path = handoff(&app, &cast.admin, &token, "").await;

    // A fresh browser, nobody signed in; previews and scanners only GET.
    let stranger = client();
    for _ in 0..2 {
        let page = stranger.get(app.url(&path)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("id=\"reveal\"") && html.contains("For the contractor"));
        assert!(!html.contains(&token.password));
        let from = element_text(&html, "handed-off-by").unwrap();
        assert!(from.starts_with("admin@acme.test of the Acme account is handing you"), "{from}");
    }
    let revealed = submit(&stranger, &app.url(&path), &app.url(&path), &[]).await;
    assert_eq!(revealed.status(), StatusCode::OK);
    assert_eq!(revealed.headers()["cache-control"], "no-store");
    let html = revealed.text().await.unwrap();
    assert_eq!(element_text(&html, "token-username").unwrap(), token.username);
    assert_eq!(element_text(&html, "token-password").unwrap(), token.password);
    assert!(element_text(&html, "handed-off-by").unwrap().starts_with("From admin@acme.test of the Acme account."));
    let api = format!("{}api/v1/whoami", app.settings.base_url);
    assert_eq!(element_text(&html, "api-url").unwrap(), api);
    assert_eq!(element_text(&html, "curl-command").unwrap(), format!("curl -u {} {api}", token.username));

    // Used: gone, for everyone and every method.
    assert_eq!(stranger.get(app.url(&path)).send().await.unwrap().status(), StatusCode::GONE);
    let csrf = csrf_in(&app.get_html(&cast.admin, "/dashboard").await);
    let again = cast.admin.client.post(app.url(&path)).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(!again.text().await.unwrap().contains(&token.password));

    let audit = app.get_html(&cast.admin, "/audit").await;
    assert!(audit.contains("token.handoff_created") && audit.contains("token.handoff_opened"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM handoffs WHERE opened_ip = '127.0.0.1'"), 1);
    // Only the code's hash is stored.
    let code = path.trim_start_matches("/handoff/");
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM audit_events WHERE detail LIKE '%{code}%'")), 0);
}

#[tokio::test]
async fn racing_reveals_of_one_link_show_the_credentials_once() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Raced").await;
    let path = handoff(&app, &cast.admin, &token, "").await;
    let stranger = client();
    let html = stranger.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_in(&html);
    let reveals = (0..8).map(|_| {
        let request = stranger.post(app.url(&path)).form(&[("csrf_token", csrf.as_str())]);
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(reveals).await;
    let shown = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(shown, 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::GONE));
}

#[tokio::test]
async fn a_link_is_gone_once_its_token_is_revoked_or_after_a_day_and_unknown_codes_are_404() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let revoked = app.create_named(&cast.admin, "Revoked soon").await;
    let lapsing = app.create_named(&cast.admin, "Slow recipient").await;
    let revoked_link = handoff(&app, &cast.admin, &revoked, "").await;
    let lapsing_link = handoff(&app, &cast.admin, &lapsing, "").await;
    app.post(&cast.admin, &format!("/tokens/{}/revoke", revoked.id), &[]).await;
    let stranger = client();
    assert_eq!(stranger.get(app.url(&revoked_link)).send().await.unwrap().status(), StatusCode::GONE);

    app.clock.advance(Duration::hours(24) + Duration::seconds(1));
    assert_eq!(stranger.get(app.url(&lapsing_link)).send().await.unwrap().status(), StatusCode::GONE);
    let unknown = stranger.get(app.url("/handoff/not-a-real-code-0123456789abcdefghijklmnopq")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    // Nor can a revoked token get a new link.
    let refused = app.post(&cast.admin, &format!("/tokens/{}/handoff", revoked.id), &[]).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn only_admins_make_links_and_an_admin_can_email_one() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(&[("SESAME_SMTP_URL", &smtp.url())]).await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Mailed").await;
    let denied = app.post(&cast.support, &format!("/tokens/{}/handoff", token.id), &[]).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let support_view = app.get_html(&cast.support, &format!("/tokens/{}", token.id)).await;
    assert!(!support_view.contains("handoff"), "support sees no hand-off");
    let other = app.post(&cast.other_admin, &format!("/tokens/{}/handoff", token.id), &[]).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);

    let bad = app.post(&cast.admin, &format!("/tokens/{}/handoff", token.id), &[("email", "not an address")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(element_text(&bad.text().await.unwrap(), "handoff-error").is_some());

    let path = handoff(&app, &cast.admin, &token, "Contractor@Example.com").await;
    let mail = smtp.mails_to("contractor@example.com");
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].subject(), "API credentials for you: Mailed");
    assert!(mail[0].data.contains(&path), "the mail carries the link");
    let api = format!("{}api/v1/whoami", app.settings.base_url);
    assert!(mail[0].data.contains(&api), "and where the API is");
    assert!(!mail[0].data.contains(&token.password));
    let code = path.trim_start_matches("/handoff/");
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM outbox WHERE body_text LIKE '%{code}%'")), 0, "never stored");
}
}
