//! Every route × every role, with the expected status.

use crate::helpers::*;
use reqwest::StatusCode;

const ANON: usize = 0;
const MEMBER: usize = 1;
const SUPPORT: usize = 2;
const ADMIN: usize = 3;
const OTHER_ADMIN: usize = 4;

/// (method, path, form fields, expected status for each role)
type RouteCase<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, [u16; 5]);

crate::both_backends! {
#[tokio::test]
async fn every_route_answers_each_role_as_designed() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Shared build token").await;
    let anonymous = Session { client: client() };
    let sessions = [
        &anonymous,
        &cast.member,
        &cast.support,
        &cast.admin,
        &cast.other_admin,
    ];
    let id = token.id.as_str();

    // (method, path, form, [anonymous, member, support, admin, other account's admin])
    let table: Vec<RouteCase> = vec![
        ("GET", "/".into(), vec![], [303, 303, 303, 303, 303]),
        ("GET", "/healthz".into(), vec![], [200, 200, 200, 200, 200]),
        ("GET", "/login".into(), vec![], [200, 303, 303, 303, 303]),
        ("GET", "/setup".into(), vec![], [303, 303, 303, 303, 303]),
        (
            "GET",
            "/dashboard".into(),
            vec![],
            [303, 303, 200, 200, 200],
        ),
        ("GET", "/account".into(), vec![], [303, 200, 200, 200, 200]),
        ("GET", "/settings".into(), vec![], [303, 403, 403, 200, 200]),
        ("GET", "/tokens".into(), vec![], [303, 403, 200, 200, 200]),
        (
            "GET",
            "/tokens/new".into(),
            vec![],
            [303, 403, 403, 200, 200],
        ),
        (
            "GET",
            "/tokens/inactive".into(),
            vec![],
            [303, 403, 200, 200, 200],
        ),
        (
            "GET",
            format!("/tokens/{id}"),
            vec![],
            [303, 403, 200, 200, 404],
        ),
        (
            "GET",
            format!("/tokens/{id}/revoke"),
            vec![],
            [303, 403, 403, 200, 404],
        ),
        (
            "GET",
            "/tokens/no-such-token".into(),
            vec![],
            [303, 403, 404, 404, 404],
        ),
        ("GET", "/audit".into(), vec![], [303, 403, 403, 200, 200]),
        (
            "GET",
            "/notifications".into(),
            vec![],
            [303, 403, 403, 200, 200],
        ),
        (
            "POST",
            "/notifications/no-such-notice/retry".into(),
            vec![],
            [303, 403, 403, 404, 404],
        ),
        (
            "GET",
            "/no/such/page".into(),
            vec![],
            [404, 404, 404, 404, 404],
        ),
        (
            "POST",
            "/tokens".into(),
            vec![("name", "made by {role}"), ("expires_in", "7d")],
            [303, 403, 403, 200, 200],
        ),
        (
            "POST",
            format!("/tokens/{id}"),
            vec![("name", "Renamed"), ("description", "d")],
            [303, 403, 403, 303, 404],
        ),
        (
            "POST",
            format!("/tokens/{id}/credentials"),
            vec![],
            [303, 403, 403, 200, 404],
        ),
        (
            "POST",
            format!("/tokens/{id}/handoff"),
            vec![],
            [303, 403, 403, 200, 404],
        ),
        (
            "GET",
            "/handoff/unknown-code".into(),
            vec![],
            [404, 404, 404, 404, 404],
        ),
        ("GET", "/users".into(), vec![], [303, 403, 403, 200, 200]),
        ("GET", "/tokens/inactive.csv".into(), vec![], [303, 403, 200, 200, 200]),
        ("GET", format!("/tokens/{id}/renew"), vec![], [303, 403, 403, 200, 404]),
        (
            "POST",
            "/users".into(),
            vec![("email", "new-{role}@example.com"), ("role", "member")],
            [303, 403, 403, 303, 303],
        ),
        ("GET", "/forgot".into(), vec![], [200, 200, 200, 200, 200]),
        ("GET", "/invite/unknown".into(), vec![], [404, 404, 404, 404, 404]),
        (
            "POST",
            format!("/tokens/{id}/revoke"),
            vec![("reason", "rotation")],
            [303, 403, 403, 303, 404],
        ),
    ];

    let mut failures = Vec::new();
    for (method, path, form, expected) in &table {
        // The other account's admin goes before ours, so our revoke comes last.
        for role in [ANON, MEMBER, SUPPORT, OTHER_ADMIN, ADMIN] {
            let session = sessions[role];
            let response = if *method == "GET" {
                app.get(session, path).await
            } else {
                let role_name = ["anonymous", "member", "support", "admin", "other"][role];
                let name = form
                    .iter()
                    .map(|(k, v)| (*k, v.replace("{role}", role_name)))
                    .collect::<Vec<_>>();
                let fields: Vec<(&str, &str)> =
                    name.iter().map(|(k, v)| (*k, v.as_str())).collect();
                if role == ANON || role == MEMBER {
                    // No CSRF token to be had: the role check answers first anyway.
                    let mut all = vec![("csrf_token", "none")];
                    all.extend(fields);
                    session
                        .client
                        .post(app.url(path))
                        .form(&all)
                        .send()
                        .await
                        .unwrap()
                } else {
                    app.post(session, path, &fields).await
                }
            };
            let got = response.status().as_u16();
            if got != expected[role] {
                failures.push(format!(
                    "{method} {path} as role #{role}: expected {}, got {got}",
                    expected[role]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_tokens WHERE revoked_at IS NOT NULL"),
        1
    );
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in() {
    let app = spawn_app().await;
    app.add_user("Acme", "admin@acme.test", sesame::domain::Role::Admin);
    let response = client().get(app.url("/tokens")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), sign_in_for("/tokens"));
}

#[tokio::test]
async fn another_accounts_token_never_shows_its_data() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app
        .create_named(&cast.admin, "Acme secret integration")
        .await;
    for path in [
        format!("/tokens/{}", token.id),
        format!("/tokens/{}/revoke", token.id),
    ] {
        let response = app.get(&cast.other_admin, &path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let html = response.text().await.unwrap();
        assert!(!html.contains("Acme secret integration"));
        assert!(!html.contains(&token.username));
    }
    let list = app.get_html(&cast.other_admin, "/tokens").await;
    assert!(!list.contains(&token.username));
    let credentials = app
        .post(
            &cast.other_admin,
            &format!("/tokens/{}/credentials", token.id),
            &[],
        )
        .await;
    assert_eq!(credentials.status(), StatusCode::NOT_FOUND);
    assert!(!credentials.text().await.unwrap().contains(&token.password));
}

#[tokio::test]
async fn members_get_403_on_every_token_page() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    // The Dashboard sends them to Your account, which names their admins.
    let landing = app.get(&cast.member, "/dashboard").await;
    assert_eq!(location(&landing), "/account");
    for path in [
        "/tokens",
        "/tokens/new",
        "/tokens/inactive",
        "/audit",
    ] {
        let response = app.get(&cast.member, path).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
}
}
