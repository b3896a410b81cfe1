//! Defences against someone guessing passwords or holding an old session.

use crate::helpers::*;
use chrono::Duration;
use reqwest::StatusCode;

async fn sign_in(app: &TestApp, email: &str, password: &str) -> (StatusCode, String) {
    let response = submit(
        &client(),
        &app.url("/login"),
        &app.url("/login"),
        &[("email", email), ("password", password)],
    )
    .await;
    let status = response.status();
    let html = response.text().await.unwrap();
    (
        status,
        element_text(&html, "login-error").unwrap_or_default(),
    )
}

crate::both_backends! {
#[tokio::test]
async fn sign_in_locks_an_address_after_too_many_failures_without_saying_whether_it_exists() {
    let app = spawn_app_with(&[("SESAME_SIGNIN_MAX_FAILURES", "3")]).await;
    app.cast().await;
    let mut lockouts = Vec::new();
    for email in ["admin@acme.test", "nobody@acme.test"] {
        for _ in 0..3 {
            assert_eq!(sign_in(&app, email, "wrong wrong wrong").await.0, StatusCode::UNAUTHORIZED);
        }
        let (status, message) = sign_in(&app, email, "wrong wrong wrong").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        lockouts.push(message);
    }
    assert_eq!(lockouts[0], lockouts[1], "the same lockout whether or not the address exists");
    // Even the right password waits: the lockout is no oracle.
    assert_eq!(sign_in(&app, "admin@acme.test", PASSWORD).await.0, StatusCode::TOO_MANY_REQUESTS);
    // Other people sign in as usual.
    assert_eq!(sign_in(&app, "support@acme.test", PASSWORD).await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_session_ends_when_idle_and_at_its_maximum_age() {
    let app = spawn_app_with(&[("SESAME_SESSION_IDLE_MINUTES", "30"), ("SESAME_SESSION_MAX_MINUTES", "60")]).await;
    let cast = app.cast().await;
    for _ in 0..2 {
        app.clock.advance(Duration::minutes(25));
        assert_eq!(app.get(&cast.admin, "/dashboard").await.status(), StatusCode::OK, "activity keeps it alive");
    }
    app.clock.advance(Duration::minutes(11));
    let expired = app.get(&cast.admin, "/dashboard").await;
    assert_eq!(expired.status(), StatusCode::SEE_OTHER, "61 minutes after sign-in");
    assert_eq!(location(&expired), sign_in_for("/dashboard"));

    let admin = app.login("admin@acme.test").await;
    app.clock.advance(Duration::minutes(31));
    assert_eq!(app.get(&admin, "/dashboard").await.status(), StatusCode::SEE_OTHER, "idle for 31 minutes");
}

#[tokio::test]
async fn sensitive_actions_need_a_recent_password() {
    let app = spawn_app_with(&[("SESAME_SUDO_MINUTES", "15")]).await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Guarded").await;
    let path = format!("/tokens/{}/credentials", token.id);
    assert_eq!(app.post(&cast.admin, &path, &[]).await.status(), StatusCode::OK, "just signed in");

    app.clock.advance(Duration::minutes(16));
    let prompt = app.post(&cast.admin, &path, &[]).await;
    assert_eq!(prompt.status(), StatusCode::UNAUTHORIZED);
    let html = prompt.text().await.unwrap();
    assert!(html.contains("id=\"sudo-password\"") && !html.contains(&token.password));
    let wrong = app.post(&cast.admin, &path, &[("sudo_password", "not my password at all")]).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(element_text(&wrong.text().await.unwrap(), "sudo-error").is_some());
    let right = app.post(&cast.admin, &path, &[("sudo_password", PASSWORD)]).await;
    assert_eq!(right.status(), StatusCode::OK);
    assert_eq!(element_text(&right.text().await.unwrap(), "token-password").unwrap(), token.password);
    assert_eq!(app.post(&cast.admin, &path, &[]).await.status(), StatusCode::OK, "recent again");

    // Hand-off links and role changes too; the prompt carries the form's fields.
    app.clock.advance(Duration::minutes(16));
    let handoff = app.post(&cast.admin, &format!("/tokens/{}/handoff", token.id), &[("email", "x@example.com")]).await;
    assert_eq!(handoff.status(), StatusCode::UNAUTHORIZED);
    assert!(handoff.text().await.unwrap().contains("value=\"x@example.com\""));
    let users = app.get_html(&cast.admin, "/users").await;
    let at = users.find("data-label=\"E-mail\">member@acme.test").unwrap();
    let member = between(&users[at..], "action=\"/users/", "/").unwrap();
    let role = app.post(&cast.admin, &format!("/users/{member}/role"), &[("role", "support")]).await;
    assert_eq!(role.status(), StatusCode::UNAUTHORIZED);
    let confirmed = app.post(&cast.admin, &format!("/users/{member}/role"), &[("role", "support"), ("sudo_password", PASSWORD)]).await;
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    // Revoke stays one confirmation away: the emergency lever needs no password.
    assert_eq!(app.post(&cast.admin, &format!("/tokens/{}/revoke", token.id), &[]).await.status(), StatusCode::SEE_OTHER);
}
}

#[tokio::test]
async fn hsts_is_sent_only_when_the_base_url_is_https() {
    let https = spawn_app_with(&[("SESAME_BASE_URL", "https://tokens.example.com")]).await;
    let response = client().get(https.url("/login")).send().await.unwrap();
    assert!(response.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .contains("max-age=31536000"));
    let http = spawn_app().await;
    let response = client().get(http.url("/login")).send().await.unwrap();
    assert!(response
        .headers()
        .get("strict-transport-security")
        .is_none());
}
