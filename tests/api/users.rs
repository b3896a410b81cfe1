//! People: invitations, roles, disabling, the last-admin rule, forgotten passwords.

use crate::helpers::*;
use crate::smtp::SmtpServer;
use chrono::Duration;
use reqwest::StatusCode;
use sesame::domain::Role;
use std::time::Instant;

const NEW_PASSWORD: &str = "violet tractor summit ocean";

async fn wait_for_mail(smtp: &SmtpServer, to: &str) -> crate::smtp::Mail {
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(mail) = smtp.mails_to(to).pop() {
            return mail;
        }
        assert!(Instant::now() < deadline, "no mail for {to}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The path of the one-time link in a mail (`/invite/…` or `/reset/…`).
fn link_in(mail: &crate::smtp::Mail, kind: &str) -> String {
    let marker = format!("/{kind}/");
    let start = mail.data.find(&marker).expect("a link in the mail");
    let code: String = mail.data[start + marker.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    format!("{marker}{code}")
}

async fn set_password(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    password: &str,
) -> reqwest::Response {
    submit(
        browser,
        &app.url(path),
        &app.url(path),
        &[("password", password), ("password_confirm", password)],
    )
    .await
}

crate::both_backends! {
#[tokio::test]
async fn an_admin_invites_support_who_sets_a_password_and_reviews_tokens() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(&[("SESAME_SMTP_URL", &smtp.url())]).await;
    let cast = app.cast().await;
    let invited = app.post(&cast.admin, "/users", &[("email", "Reviewer@Acme.test"), ("role", "support")]).await;
    assert_eq!(invited.status(), StatusCode::SEE_OTHER);
    let mail = wait_for_mail(&smtp, "reviewer@acme.test").await;
    assert!(mail.subject().starts_with("You are invited to Sesame Tokens"));
    let link = link_in(&mail, "invite");
    assert!(app.get_html(&cast.admin, "/users").await.contains("badge-user-invited"));

    let newcomer = client();
    let form = newcomer.get(app.url(&link)).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let weak = set_password(&app, &newcomer, &link, "password1234").await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let set = set_password(&app, &newcomer, &link, NEW_PASSWORD).await;
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    assert_eq!(newcomer.get(app.url("/tokens")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(newcomer.get(app.url("/tokens/new")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(client().get(app.url(&link)).send().await.unwrap().status(), StatusCode::GONE);
    let users = app.get_html(&cast.admin, "/users").await;
    assert!(users.contains("reviewer@acme.test") && !users.contains("badge-user-invited"));
    assert!(app.get_html(&cast.admin, "/audit").await.contains("user.invitation_accepted"));

    // Inviting an existing user again is refused.
    let again = app.post(&cast.admin, "/users", &[("email", "reviewer@acme.test"), ("role", "admin")]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let bad = app.post(&cast.admin, "/users", &[("email", "nope"), ("role", "support")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_invitation_lapses_after_72_hours() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(&[("SESAME_SMTP_URL", &smtp.url())]).await;
    let cast = app.cast().await;
    app.post(&cast.admin, "/users", &[("email", "late@acme.test"), ("role", "member")]).await;
    let link = link_in(&wait_for_mail(&smtp, "late@acme.test").await, "invite");
    app.clock.advance(Duration::hours(72) + Duration::seconds(1));
    assert_eq!(client().get(app.url(&link)).send().await.unwrap().status(), StatusCode::GONE);
    assert_eq!(client().get(app.url("/invite/unknown")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn roles_change_and_a_disabled_user_is_signed_out_at_the_next_request() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let users = app.get_html(&cast.admin, "/users").await;
    let member_id = id_of(&users, "member@acme.test");
    assert_eq!(app.get(&cast.member, "/tokens").await.status(), StatusCode::FORBIDDEN);
    let promoted = app.post(&cast.admin, &format!("/users/{member_id}/role"), &[("role", "support")]).await;
    assert_eq!(promoted.status(), StatusCode::SEE_OTHER);
    // A new role ends their sessions: they sign in again to the pages of the new role.
    assert_eq!(location(&app.get(&cast.member, "/tokens").await), sign_in_for("/tokens"));
    let promoted = app.login("member@acme.test").await;
    assert_eq!(app.get(&promoted, "/dashboard").await.status(), StatusCode::OK);

    let disabled = app.post(&cast.admin, &format!("/users/{member_id}/disable"), &[]).await;
    assert_eq!(disabled.status(), StatusCode::SEE_OTHER);
    let kicked = app.get(&promoted, "/dashboard").await;
    assert_eq!(kicked.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&kicked), sign_in_for("/dashboard"));
    let attempt = submit(&client(), &app.url("/login"), &app.url("/login"), &[("email", "member@acme.test"), ("password", PASSWORD)]).await;
    assert_eq!(attempt.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.post(&cast.admin, &format!("/users/{member_id}/enable"), &[]).await.status(), StatusCode::SEE_OTHER);
    app.login("member@acme.test").await;

    // Support and members cannot manage people; another account's admin finds nobody.
    assert_eq!(app.get(&cast.support, "/users").await.status(), StatusCode::FORBIDDEN);
    let other = app.post(&cast.other_admin, &format!("/users/{member_id}/disable"), &[]).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let audit = app.get_html(&cast.admin, "/audit").await;
    assert!(audit.contains("user.role_changed") && audit.contains("user.disabled") && audit.contains("user.enabled"));
}

#[tokio::test]
async fn the_last_active_admin_can_be_neither_demoted_nor_disabled() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let users = app.get_html(&cast.admin, "/users").await;
    let admin_id = id_of(&users, "admin@acme.test");
    let demote = app.post(&cast.admin, &format!("/users/{admin_id}/role"), &[("role", "member")]).await;
    assert_eq!(demote.status(), StatusCode::CONFLICT);
    // A banner on the Users page it came from; the choices it refuses were disabled there.
    let page = demote.text().await.unwrap();
    assert!(page.contains("class=\"flash flash-error\"") && page.contains("last active admin"), "{page}");
    assert!(page.contains("id=\"users\""), "the Users page");
    assert!(page.contains(&format!("id=\"last-admin-{admin_id}\"")));
    let row = between(&page, &format!("id=\"role-{admin_id}\""), "</select>").unwrap();
    assert!(row.contains("value=\"member\" disabled") && row.contains("value=\"support\" disabled"), "{row}");

    app.add_user("Acme", "deputy@acme.test", Role::Admin);
    let deputy = app.login("deputy@acme.test").await;
    assert_eq!(app.post(&deputy, &format!("/users/{admin_id}/disable"), &[]).await.status(), StatusCode::SEE_OTHER);
    let deputy_id = id_of(&app.get_html(&deputy, "/users").await, "deputy@acme.test");
    let last = app.post(&deputy, &format!("/users/{deputy_id}/role"), &[("role", "support")]).await;
    assert_eq!(last.status(), StatusCode::CONFLICT);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled = FALSE AND password_hash <> '' AND email LIKE '%@acme.test'"), 1);
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_a_one_hour_link_with_the_same_answer_for_anyone() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(&[("SESAME_SMTP_URL", &smtp.url())]).await;
    let cast = app.cast().await;
    let ask = |email: &'static str| {
        let app = &app;
        async move {
            let response = submit(&client(), &app.url("/forgot"), &app.url("/forgot"), &[("email", email)]).await;
            assert_eq!(response.status(), StatusCode::OK);
            element_text(&response.text().await.unwrap(), "forgot-sent").unwrap().replace(email, "ADDRESS")
        }
    };
    assert_eq!(ask("admin@acme.test").await, ask("nobody@acme.test").await);
    let link = link_in(&wait_for_mail(&smtp, "admin@acme.test").await, "reset");
    assert!(smtp.mails_to("nobody@acme.test").is_empty());

    // A second link asked for meanwhile dies with the first one's use.
    ask("admin@acme.test").await;
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while smtp.mails_to("admin@acme.test").len() < 2 {
        assert!(Instant::now() < deadline, "no second reset mail");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let spare = link_in(&smtp.mails_to("admin@acme.test")[1], "reset");
    let browser = client();
    assert_eq!(set_password(&app, &browser, &link, NEW_PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(client().get(app.url(&spare)).send().await.unwrap().status(), StatusCode::GONE);
    assert_eq!(browser.get(app.url("/dashboard")).send().await.unwrap().status(), StatusCode::OK);
    // Every other session ended; the old password no longer works; the link is used up.
    assert_eq!(app.get(&cast.admin, "/dashboard").await.status(), StatusCode::SEE_OTHER);
    let old = submit(&client(), &app.url("/login"), &app.url("/login"), &[("email", "admin@acme.test"), ("password", PASSWORD)]).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(client().get(app.url(&link)).send().await.unwrap().status(), StatusCode::GONE);

    ask("admin@acme.test").await;
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while smtp.mails_to("admin@acme.test").len() < 3 {
        assert!(Instant::now() < deadline, "no third reset mail");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let second = link_in(&smtp.mails_to("admin@acme.test")[2], "reset");
    app.clock.advance(Duration::hours(1) + Duration::seconds(1));
    assert_eq!(client().get(app.url(&second)).send().await.unwrap().status(), StatusCode::GONE);
}
}

/// The user id in the Users page row of this address.
fn id_of(users_page: &str, email: &str) -> String {
    let row = users_page
        .find(&format!("data-label=\"E-mail\">{email}"))
        .expect("the user's row");
    between(&users_page[row..], "action=\"/users/", "/").unwrap()
}
