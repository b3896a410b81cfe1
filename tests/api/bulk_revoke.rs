//! Bulk revoke for incidents: ticked tokens, or every active token matching API Tokens'
//! filter, revoked together with one reason, each audited, effective at once, no sudo.

use crate::helpers::*;
use chrono::Duration;
use reqwest::StatusCode;

fn revocations(app: &TestApp, reason: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'token.revoke' AND detail = 'reason: {reason}'"
    ))
}

crate::both_backends! {
#[tokio::test]
async fn ticked_tokens_are_revoked_together_with_one_reason_each_audited() {
    // Sudo mode lapses after 15 minutes: revoking in bulk must not ask for it.
    let app = spawn_app_with(&[("SESAME_SUDO_MINUTES", "15")]).await;
    let cast = app.cast().await;
    let a = app.create_named(&cast.admin, "Alpha").await;
    let b = app.create_named(&cast.admin, "Bravo").await;
    let c = app.create_named(&cast.admin, "Charlie").await;
    let elsewhere = app.create_named(&cast.other_admin, "Globex's").await;
    app.clock.advance(Duration::minutes(16));
    let list = app.get_html(&cast.admin, "/tokens").await;
    assert!(list.contains(&format!("name=\"ids\" value=\"{}\"", a.id)) && list.contains("id=\"bulk-revoke\""));
    assert!(!app.get_html(&cast.support, "/tokens").await.contains("name=\"ids\""));

    let done = app
        .post(&cast.admin, "/tokens/revoke", &[("ids", &a.id), ("ids", &b.id), ("ids", &elsewhere.id), ("reason", "incident 42")])
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/tokens/inactive");
    for gone in [&a, &b] {
        assert_eq!(app.whoami(gone).await, StatusCode::UNAUTHORIZED, "effective at once");
    }
    assert_eq!(app.whoami(&c).await, StatusCode::OK);
    assert_eq!(app.whoami(&elsewhere).await, StatusCode::OK, "another account's token is not this admin's");
    assert_eq!(revocations(&app, "incident 42"), 2);
    let ended = app.get_html(&cast.admin, "/tokens/inactive").await;
    assert!(ended.contains("2 tokens revoked. They stopped working immediately. 1 of those chosen were not active tokens of this account."), "{ended}");
    assert!(ended.contains("incident 42"));

    // Again: nothing left to revoke among them.
    let again = app.post(&cast.admin, "/tokens/revoke", &[("ids", &a.id), ("reason", "incident 42")]).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(revocations(&app, "incident 42"), 2);
}

#[tokio::test]
async fn all_matching_revokes_every_active_token_the_filter_finds() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let ci: Vec<Created> = vec![
        app.create_named(&cast.admin, "ci runner 1").await,
        app.create_named(&cast.admin, "ci runner 2").await,
    ];
    let prod = app.create_named(&cast.admin, "prod export").await;
    let list = app.get_html(&cast.admin, "/tokens?q=ci+runner").await;
    assert!(list.contains("All 2 matching active tokens") && list.contains("name=\"q\" value=\"ci runner\""), "{list}");
    let done = app
        .post(&cast.admin, "/tokens/revoke", &[("all_matching", "1"), ("q", "ci runner"), ("reason", "runner compromised")])
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    for token in &ci {
        assert_eq!(app.whoami(token).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.whoami(&prod).await, StatusCode::OK);
    assert_eq!(revocations(&app, "runner compromised"), 2);
}

#[tokio::test]
async fn bulk_revoke_is_for_admins_and_refuses_what_it_cannot_read() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Kept").await;
    for session in [&cast.support, &cast.member] {
        // Each with its own session's CSRF token: refused for the role, not the form.
        let csrf = csrf_in(&app.get_html(session, "/account").await);
        let refused = session
            .client
            .post(app.url("/tokens/revoke"))
            .form(&[("csrf_token", csrf.as_str()), ("ids", token.id.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }
    let forged = cast.admin.client.post(app.url("/tokens/revoke")).form(&[("ids", token.id.as_str())]).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let malformed = app.post(&cast.admin, "/tokens/revoke", &[("ids", "not-an-id")]).await;
    assert_eq!(malformed.status(), StatusCode::NOT_FOUND);
    let long = "x".repeat(501);
    let too_long = app.post(&cast.admin, "/tokens/revoke", &[("ids", &token.id), ("reason", &long)]).await;
    assert_eq!(too_long.status(), StatusCode::BAD_REQUEST);
    let bad_filter = app.post(&cast.admin, "/tokens/revoke", &[("all_matching", "1"), ("unused", "999")]).await;
    assert_eq!(bad_filter.status(), StatusCode::BAD_REQUEST);
    let nothing = app.post(&cast.admin, "/tokens/revoke", &[("reason", "oops")]).await;
    assert_eq!(location(&nothing), "/tokens");
    assert!(app.get_html(&cast.admin, "/tokens").await.contains("Select the tokens to revoke first."));
    assert_eq!(app.whoami(&token).await, StatusCode::OK);
}
}
