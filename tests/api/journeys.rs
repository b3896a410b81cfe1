//! Small places where people got stuck in a real browser (issue 21): each page says what it
//! is for and nothing that is not true.

use crate::helpers::*;
use reqwest::StatusCode;

const NOT_CACHED: &str = "signed-in pages are never cached";

crate::both_backends! {
#[tokio::test]
async fn choosing_the_role_someone_already_has_changes_records_and_says_nothing() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let users = app.get_html(&cast.admin, "/users").await;
    let at = users.find("data-label=\"E-mail\">support@acme.test").unwrap();
    let id = between(&users[at..], "action=\"/users/", "/").unwrap();
    let audit = "SELECT COUNT(*) AS n FROM audit_events WHERE action LIKE 'user.%'";
    let before = app.count(audit);

    let same = app.post(&cast.admin, &format!("/users/{id}/role"), &[("role", "support")]).await;
    assert_eq!(same.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&same), "/users");
    assert_eq!(app.count(audit), before, "no audit entry");
    let page = app.get_html(&cast.admin, "/users").await;
    assert!(!page.contains("class=\"flash"), "no flash: {page}");
    // Their session goes on: nothing changed for them.
    assert_eq!(app.get(&cast.support, "/tokens").await.status(), StatusCode::OK);

    // A real change is recorded, and ends their sessions, as before.
    let changed = app.post(&cast.admin, &format!("/users/{id}/role"), &[("role", "member")]).await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count(audit), before + 1);
    assert!(app.get_html(&cast.admin, "/users").await.contains("support@acme.test is now member."));
    assert_eq!(app.get(&cast.support, "/tokens").await.status(), StatusCode::SEE_OTHER);
}
}

#[tokio::test]
async fn public_pages_say_nothing_about_signed_in_caching() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    for path in ["/login", "/forgot"] {
        let page = client()
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("<h1>"), "{path} is a page");
        assert!(!page.contains(NOT_CACHED), "{path}");
    }
    assert!(app
        .get_html(&cast.admin, "/dashboard")
        .await
        .contains(NOT_CACHED));
}

#[tokio::test]
async fn support_staff_are_told_their_pages_are_read_only() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    for path in ["/dashboard", "/tokens", "/tokens/inactive"] {
        let note = element_text(&app.get_html(&cast.support, path).await, "read-only-note");
        assert!(note.is_some_and(|n| n.starts_with("Read-only")), "{path}");
        assert!(element_text(&app.get_html(&cast.admin, path).await, "read-only-note").is_none());
    }
}

#[tokio::test]
async fn a_revoked_token_does_not_say_when_it_expires_as_if_it_still_would() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app
        .create_token(
            &cast.admin,
            &[("name", "Half-year"), ("expires_in", "180d")],
        )
        .await;
    let path = format!("/tokens/{}", token.id);
    let live = app.get_html(&cast.admin, &path).await;
    assert!(live.contains("<dt>Expires</dt>"));
    let expiry = |page: &str| between(page, "id=\"token-expiry\"", "</dd>").unwrap();
    assert!(expiry(&live).contains(">in 6 months</time>"), "{live}");
    let revoked = app.post(&cast.admin, &format!("{path}/revoke"), &[]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let page = app.get_html(&cast.support, &path).await;
    assert!(page.contains("<dt>Would have expired</dt>"), "{page}");
    let expiry = element_text(&page, "token-expiry").unwrap();
    assert!(
        expiry.ends_with("UTC") && !expiry.contains(" in "),
        "{expiry}"
    );
}

/// The credentials page says where the API is, in full, with a curl command to try them
/// that holds the username but not the password.
#[tokio::test]
async fn the_credentials_page_gives_the_apis_whole_address_and_a_curl_command() {
    let app = spawn_app_with(&[("SESAME_BASE_URL", "https://tokens.example.com/")]).await;
    let cast = app.cast().await;
    let response = app
        .post(
            &cast.admin,
            "/tokens",
            &[("name", "Tried"), ("expires_in", "30d")],
        )
        .await;
    let html = response.text().await.unwrap();
    let username = element_text(&html, "token-username").unwrap();
    let password = element_text(&html, "token-password").unwrap();
    assert_eq!(
        element_text(&html, "api-url").as_deref(),
        Some("https://tokens.example.com/api/v1/whoami")
    );
    let curl = element_text(&html, "curl-command").unwrap();
    assert_eq!(
        curl,
        format!("curl -u {username} https://tokens.example.com/api/v1/whoami")
    );
    assert!(!curl.contains(&password));
    assert!(!html.contains("…/api/v1/whoami"));
}

/// A member who signs in lands on Your account, which names the admins to ask, not on a
/// Forbidden page; the invitation form makes the role an explicit choice.
#[tokio::test]
async fn members_land_on_a_page_that_names_their_admins_and_roles_are_chosen() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    app.add_user(
        "Acme",
        "second-admin@acme.test",
        sesame::domain::Role::Admin,
    );
    let member = app.login("member@acme.test").await;
    let landing = app.get(&member, "/dashboard").await;
    assert_eq!(landing.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&landing), "/account");
    let page = app.get_html(&member, "/account").await;
    let admins = between(&page, "id=\"account-admins\">", "</ul>").unwrap();
    assert!(admins.contains("admin@acme.test") && admins.contains("second-admin@acme.test"));
    assert!(
        !admins.contains("admin@globex.test"),
        "only their own account's"
    );
    assert!(!app
        .get_html(&cast.support, "/account")
        .await
        .contains("id=\"member-landing\""));

    let users = app.get_html(&cast.admin, "/users").await;
    assert!(
        users.contains("<option value=\"\" selected disabled>Choose a role…</option>"),
        "{users}"
    );
    let invite = between(&users, "id=\"invite-role\"", "</select>").unwrap();
    assert!(!invite.contains("value=\"member\" selected"), "{invite}");
    let unchosen = app
        .post(&cast.admin, "/users", &[("email", "new@acme.test")])
        .await;
    assert_eq!(unchosen.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unchosen.text().await.unwrap().contains("Choose a role"));
}

/// The audit log says what happened in words; the code stays as the title (and in the CSV).
#[tokio::test]
async fn the_audit_log_names_actions_in_words() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Worded").await;
    app.post(&cast.admin, &format!("/tokens/{}/revoke", token.id), &[])
        .await;
    let audit = app.get_html(&cast.admin, "/audit").await;
    for (code, words) in [
        ("token.create", "Token created"),
        ("token.revoke", "Token revoked"),
    ] {
        assert!(
            audit.contains(&format!("<span title=\"{code}\">{words}</span>")),
            "{code}: {audit}"
        );
    }
    assert!(!audit.contains("<code>token.create</code>"));
}

/// Every action the code records has its words.
#[test]
fn every_recorded_action_has_words() {
    fn sources(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let mut files = Vec::new();
    sources(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut actions = std::collections::BTreeSet::new();
    for text in &files {
        for part in text.split('"').skip(1).step_by(2) {
            let Some((area, what)) = part.split_once('.') else {
                continue;
            };
            let known_area = ["token", "user", "session", "account"].contains(&area);
            let is_code =
                !what.is_empty() && what.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            // Template paths (`account.html`) are not actions.
            if known_area && is_code && what != "html" {
                actions.insert(part.to_string());
            }
        }
    }
    assert!(
        actions.contains("token.revoke") && actions.len() > 20,
        "{actions:?}"
    );
    for action in actions {
        assert!(
            !sesame::routes::audit::in_words(&action).is_empty(),
            "{action} has no words"
        );
    }
}

/// Disabling someone asks first, on a page that says what it does.
#[tokio::test]
async fn disabling_someone_asks_first() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let users = app.get_html(&cast.admin, "/users").await;
    let at = users
        .find("data-label=\"E-mail\">support@acme.test")
        .unwrap();
    let id = between(&users[at..], "action=\"/users/", "/").unwrap();
    assert!(
        users.contains(&format!("href=\"/users/{id}/disable\"")),
        "a link, not a form"
    );
    let ask = app
        .get_html(&cast.admin, &format!("/users/{id}/disable"))
        .await;
    assert!(
        ask.contains("<h1>Disable support@acme.test?</h1>") && ask.contains("signed out at once")
    );
    assert!(
        ask.contains(&format!("action=\"/users/{id}/disable\"")) && ask.contains("href=\"/users\"")
    );
    for session in [&cast.support, &cast.member] {
        let refused = app.get(session, &format!("/users/{id}/disable")).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }
    let elsewhere = app
        .get(&cast.other_admin, &format!("/users/{id}/disable"))
        .await;
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let disabled =
        "SELECT COUNT(*) AS n FROM users WHERE email = 'support@acme.test' AND disabled = TRUE";
    assert_eq!(app.count(disabled), 0, "asking changes nothing");
    let done = app
        .post(&cast.admin, &format!("/users/{id}/disable"), &[])
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count(disabled), 1);
}
