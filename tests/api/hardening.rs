//! What a black-box attack on a running server found (issue 20), each with its test.

use crate::helpers::*;
use crate::statements::{self, Capture};
use chrono::Duration;
use reqwest::{Client, StatusCode};
use std::io::{Read, Write};
use std::time::Instant;

/// A sign-in from a browser, through the `X-Forwarded-For` of a trusted proxy.
async fn sign_in_from(
    app: &TestApp,
    browser: &Client,
    from: &str,
    email: &str,
    password: &str,
) -> StatusCode {
    let page = browser
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    browser
        .post(app.url("/login"))
        .header("x-forwarded-for", from)
        .form(&[
            ("csrf_token", csrf_in(&page).as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

/// Finding 1: guesses from anywhere lock an address out, but never its owner's browser.
#[tokio::test]
async fn a_lockout_spares_the_owners_own_browser_and_its_sudo_prompts() {
    let app = spawn_app_with(&[
        ("SESAME_TRUSTED_PROXIES", "127.0.0.1"),
        ("SESAME_SUDO_MINUTES", "15"),
    ])
    .await;
    app.cast().await;
    let owner = client();
    assert_eq!(
        sign_in_from(&app, &owner, "203.0.113.1", "admin@acme.test", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let token = app
        .create_named(
            &Session {
                client: owner.clone(),
            },
            "Incident",
        )
        .await;
    // Signing out (everywhere, today) keeps the device cookie.
    let logout = app
        .post(
            &Session {
                client: owner.clone(),
            },
            "/logout",
            &[],
        )
        .await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);

    // 11 wrong passwords from 11 addresses.
    let mut statuses = Vec::new();
    for n in 0..11 {
        let from = format!("198.51.100.{n}");
        statuses.push(
            sign_in_from(
                &app,
                &client(),
                &from,
                "admin@acme.test",
                "guess guess guess",
            )
            .await,
        );
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // An unknown browser waits, even with the right password.
    assert_eq!(
        sign_in_from(&app, &client(), "203.0.113.1", "admin@acme.test", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The owner's browser signs in.
    assert_eq!(
        sign_in_from(&app, &owner, "203.0.113.1", "admin@acme.test", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    // A signed-in admin's sudo prompt is not locked out either.
    app.clock.advance(Duration::minutes(16));
    let owner_session = Session {
        client: owner.clone(),
    };
    let path = format!("/tokens/{}/credentials", token.id);
    let confirmed = app
        .post(&owner_session, &path, &[("sudo_password", PASSWORD)])
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);

    // The owner's browser has a limit of its own: 10 wrong guesses, then it waits too.
    app.post(&owner_session, "/logout", &[]).await;
    let mut own = Vec::new();
    for _ in 0..11 {
        own.push(
            sign_in_from(
                &app,
                &owner,
                "203.0.113.1",
                "admin@acme.test",
                "typo typo typo",
            )
            .await,
        );
    }
    assert!(
        own[..10].iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{own:?}"
    );
    assert_eq!(own[10], StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        sign_in_from(&app, &owner, "203.0.113.1", "admin@acme.test", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A device cookie is for its own address only.
    assert_eq!(
        sign_in_from(&app, &owner, "203.0.113.1", "support@acme.test", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
}

/// Finding 2: "Forgot password" does nothing that depends on the address before it answers:
/// with the background worker held, both answers come back alike with no SQL run at all.
#[tokio::test]
// The guard holds an OS thread (the worker), not a task of this runtime.
#[allow(clippy::await_holding_lock)]
async fn forgot_password_answers_before_any_address_dependent_work() {
    statements::install();
    let smtp = crate::smtp::SmtpServer::start();
    let app = spawn_app_with(&[("SESAME_SMTP_URL", &smtp.url())]).await;
    let cast = app.cast().await;
    let invited = app
        .post(
            &cast.admin,
            "/users",
            &[("email", "invited@acme.test"), ("role", "member")],
        )
        .await;
    assert_eq!(invited.status(), StatusCode::SEE_OTHER);

    let capture = Capture::start(&app.database_url());
    let held = app.direct_mail.hold();
    let mut answers = Vec::new();
    for email in ["admin@acme.test", "nobody@acme.test", "invited@acme.test"] {
        let browser = client();
        let page = browser
            .get(app.url("/forgot"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        capture.take();
        let response = browser
            .post(app.url("/forgot"))
            .form(&[("csrf_token", csrf_in(&page).as_str()), ("email", email)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // The session's own read is the same for every address.
        let ran: Vec<_> = capture
            .take()
            .into_iter()
            .filter(|s| !on_sessions(s))
            .collect();
        assert!(ran.is_empty(), "{email}: SQL before the answer: {ran:?}");
        let body = response.text().await.unwrap();
        let csrf = between(&body, "name=\"csrf_token\" value=\"", "\"").unwrap_or_default();
        answers.push(body.replace(email, "ADDRESS").replace(&csrf, "CSRF"));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1], answers[2]);
    drop(held);

    // Afterwards the worker sends the link to the active user only (finding 5).
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while smtp.mails_to("admin@acme.test").is_empty() {
        assert!(Instant::now() < deadline, "no reset mail");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(smtp.mails_to("nobody@acme.test").is_empty());
    assert!(
        !smtp
            .mails_to("invited@acme.test")
            .iter()
            .any(|m| m.data.contains("/reset/")),
        "someone invited gets no reset link"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM user_links WHERE purpose = 'reset'"),
        1
    );
}

/// A statement on the session table (its backticks are SQLite's quotes).
fn on_sessions(statement: &crate::statements::Statement) -> bool {
    statement.sql.replace('`', "\"").contains("\"sessions\"")
}

/// Finding 2, sign-in: a wrong password for an existing address writes nothing before the
/// answer either (its audit event is written afterwards).
#[tokio::test]
#[allow(clippy::await_holding_lock)] // as above: the guard holds the worker thread
async fn a_failed_sign_in_is_audited_after_the_answer() {
    statements::install();
    let app = spawn_app().await;
    app.cast().await;
    let capture = Capture::start(&app.database_url());
    let held = app.direct_mail.hold();
    let mut writes = Vec::new();
    for email in ["admin@acme.test", "nobody@acme.test"] {
        capture.take();
        let status = submit(
            &client(),
            &app.url("/login"),
            &app.url("/login"),
            &[("email", email), ("password", "wrong wrong")],
        )
        .await
        .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // The sign-in form's session (stored at GET /login) is the same for every address.
        let ran = capture.take();
        writes.push(
            ran.iter()
                .filter(|s| !on_sessions(s))
                .filter(|s| !s.sql.trim_start().to_uppercase().starts_with("SELECT"))
                .count(),
        );
    }
    assert_eq!(writes, [0, 0], "no write before either answer");
    drop(held);
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'user.signin_failed'")
        < 1
    {
        assert!(
            Instant::now() < deadline,
            "the failed sign-in was not audited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The HTML without its `<time>` elements.
fn without_times(html: &str) -> String {
    let mut rest = html;
    let mut kept = String::new();
    while let Some(start) = rest.find("<time") {
        kept.push_str(&rest[..start]);
        let end = rest[start..]
            .find("</time>")
            .map_or(rest.len(), |e| start + e + "</time>".len());
        rest = &rest[end..];
    }
    kept + rest
}

/// The `/invite/CODE` path in an invitation mail.
fn invite_link(mail: &crate::smtp::Mail) -> String {
    let start = mail.data.find("/invite/").expect("an invitation link") + "/invite/".len();
    let code: String = mail.data[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    format!("/invite/{code}")
}

// Finding 4: inviting an address that belongs to another account looks exactly like any
// invitation; invitations lapse after 72 h, reserve nothing, and can be sent again or
// cancelled.
crate::both_backends! {
#[tokio::test]
async fn invitations_say_nothing_about_other_accounts_and_reserve_nothing() {
    let smtp = crate::smtp::SmtpServer::start();
    let app = spawn_app_with(&[("SESAME_SMTP_URL", &smtp.url())]).await;
    let cast = app.cast().await;
    // Globex invites Acme's admin and someone nobody knows: the same answer and page.
    let mut seen = Vec::new();
    for email in ["admin@acme.test", "stranger@example.com"] {
        let response = app.post(&cast.other_admin, "/users", &[("email", email), ("role", "support")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{email}");
        let page = app.get_html(&cast.other_admin, "/users").await;
        let row = page.find(&format!(">{email}<")).expect("listed as an open invitation");
        let row = &page[row..row + page[row..].find("</tr>").unwrap()];
        let id = between(row, "/users/invitations/", "/").unwrap();
        // The two were sent a moment apart: the times may differ by a second.
        seen.push(without_times(&row.replace(email, "ADDRESS").replace(&id, "ID")));
    }
    assert_eq!(seen[0], seen[1], "the row says nothing about the address");
    // Acme's admin, following Globex's link, is told (only they are) and nothing changes.
    let link = invite_link(&smtp.mails_to("admin@acme.test").pop().expect("the invitation mail"));
    let taken = submit(&client(), &app.url(&link), &app.url(&link), &[("password", "violet tractor summit ocean"), ("password_confirm", "violet tractor summit ocean")]).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    assert!(taken.text().await.unwrap().contains("already has a Sesame Tokens account"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE email = 'admin@acme.test'"), 1);
    app.login("admin@acme.test").await;

    // Acme can invite the stranger too: Globex's pending invitation reserves nothing.
    let also = app.post(&cast.admin, "/users", &[("email", "stranger@example.com"), ("role", "member")]).await;
    assert_eq!(also.status(), StatusCode::SEE_OTHER);
    // Its own users are Acme's business: inviting one again is a conflict.
    let again = app.post(&cast.admin, "/users", &[("email", "support@acme.test"), ("role", "member")]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // Globex cancels; its link stops working at once. Acme sends again after 72 h.
    let page = app.get_html(&cast.other_admin, "/users").await;
    let row = page.find(">stranger@example.com<").unwrap();
    let globex_id = between(&page[row..], "/users/invitations/", "/").unwrap();
    let globex_link = invite_link(&smtp.mails_to("stranger@example.com").into_iter()
        .find(|m| m.data.contains("Globex")).expect("Globex's mail"));
    assert_eq!(app.post(&cast.admin, &format!("/users/invitations/{globex_id}/cancel"), &[]).await.status(), StatusCode::NOT_FOUND, "not Acme's");
    assert_eq!(app.post(&cast.other_admin, &format!("/users/invitations/{globex_id}/cancel"), &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(client().get(app.url(&globex_link)).send().await.unwrap().status(), StatusCode::GONE);

    app.clock.advance(Duration::hours(72) + Duration::seconds(1));
    let page = app.get_html(&cast.admin, "/users").await;
    let row = page.find(">stranger@example.com<").unwrap();
    assert!(page[row..].split("</tr>").next().unwrap().contains("expired"));
    let acme_id = between(&page[row..], "/users/invitations/", "/").unwrap();
    let before = smtp.mails_to("stranger@example.com").len();
    assert_eq!(app.post(&cast.admin, &format!("/users/invitations/{acme_id}/resend"), &[]).await.status(), StatusCode::SEE_OTHER);
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while smtp.mails_to("stranger@example.com").len() == before {
        assert!(Instant::now() < deadline, "no new invitation mail");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let fresh = invite_link(&smtp.mails_to("stranger@example.com").pop().unwrap());
    let joined = submit(&client(), &app.url(&fresh), &app.url(&fresh), &[("password", "violet tractor summit ocean"), ("password_confirm", "violet tractor summit ocean")]).await;
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    let users = app.get_html(&cast.admin, "/users").await;
    assert!(users.contains("data-label=\"E-mail\">stranger@example.com"), "a user of Acme now");
    let audit = app.get_html(&cast.admin, "/audit").await;
    assert!(audit.contains("user.invitation_resent") && audit.contains("user.invitation_accepted"));
}
}

/// Finding 6: the token page lists open hand-off links with Cancel; disabling their maker
/// voids them.
#[tokio::test]
async fn open_hand_off_links_are_listed_cancellable_and_die_with_their_maker() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    app.add_user("Acme", "second@acme.test", sesame::domain::Role::Admin);
    let second = app.login("second@acme.test").await;
    let token = app.create_named(&cast.admin, "Handed").await;
    let link = |html: String| element_text(&html, "handoff-url").expect("the link");
    let handoff = format!("/tokens/{}/handoff", token.id);
    let first = link(
        app.post(&cast.admin, &handoff, &[])
            .await
            .text()
            .await
            .unwrap(),
    );
    let by_second = link(app.post(&second, &handoff, &[]).await.text().await.unwrap());
    let page = app
        .get_html(&cast.admin, &format!("/tokens/{}", token.id))
        .await;
    assert!(page.contains("id=\"open-links\""));
    assert_eq!(page.matches("/cancel\"").count(), 2, "two open links");
    assert!(
        page.contains("\"Made by\">second@acme.test<")
            && page.contains("\"Made by\">admin@acme.test<")
    );
    // Support staff see the list, without Cancel.
    let support_page = app
        .get_html(&cast.support, &format!("/tokens/{}", token.id))
        .await;
    assert!(support_page.contains("id=\"open-links\"") && !support_page.contains("/cancel\""));

    // Cancel the admin's own link: it answers 410 from then on.
    let first_id = {
        let at = page
            .find("data-label=\"Made by\">admin@acme.test<")
            .unwrap();
        let row_start = page[..at].rfind("id=\"handoff-").unwrap();
        between(&page[row_start..], "id=\"handoff-", "\"").unwrap()
    };
    let cancel = format!("/tokens/{}/handoffs/{first_id}/cancel", token.id);
    assert_eq!(
        app.post(&cast.other_admin, &cancel, &[]).await.status(),
        StatusCode::NOT_FOUND,
        "another account"
    );
    assert_eq!(
        app.post(&cast.support, &cancel, &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(&cast.admin, &cancel, &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.post(&cast.admin, &cancel, &[]).await.status(),
        StatusCode::NOT_FOUND,
        "once"
    );
    let path = |url: &str| url[url.find("/handoff/").unwrap()..].to_string();
    assert_eq!(
        client()
            .get(app.url(&path(&first)))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::GONE
    );

    // Disabling the second admin voids their link.
    let users = app.get_html(&cast.admin, "/users").await;
    let at = users
        .find("data-label=\"E-mail\">second@acme.test")
        .unwrap();
    let id = between(&users[at..], "action=\"/users/", "/").unwrap();
    assert_eq!(
        app.post(&cast.admin, &format!("/users/{id}/disable"), &[])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        client()
            .get(app.url(&path(&by_second)))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::GONE
    );
    let page = app
        .get_html(&cast.admin, &format!("/tokens/{}", token.id))
        .await;
    assert!(!page.contains("id=\"open-links\""), "no open link is left");
}

/// Finding 7: disabling and enabling ask for a recent password, like a role change.
#[tokio::test]
async fn disable_and_enable_ask_for_a_recent_password() {
    let app = spawn_app_with(&[("SESAME_SUDO_MINUTES", "15")]).await;
    let cast = app.cast().await;
    let users = app.get_html(&cast.admin, "/users").await;
    let at = users
        .find("data-label=\"E-mail\">support@acme.test")
        .unwrap();
    let id = between(&users[at..], "action=\"/users/", "/").unwrap();
    app.clock.advance(Duration::minutes(16));
    for action in ["disable", "enable"] {
        let path = format!("/users/{id}/{action}");
        let prompt = app.post(&cast.admin, &path, &[]).await;
        assert_eq!(
            prompt.status(),
            StatusCode::UNAUTHORIZED,
            "{action} without a recent password"
        );
        let html = prompt.text().await.unwrap();
        assert!(
            html.contains("id=\"sudo-password\"") && html.contains(&format!("action=\"{path}\""))
        );
        // The prompt says what it confirms, and Cancel goes back to Users.
        let what = element_text(&html, "sudo-action").unwrap();
        assert!(
            what.starts_with(&format!("To {action} this person,")),
            "{what}"
        );
        assert!(
            html.contains("id=\"sudo-cancel\"")
                && html.contains("href=\"/users\" id=\"sudo-cancel\"")
        );
        let disabled = app.count(
            "SELECT COUNT(*) AS n FROM users WHERE email = 'support@acme.test' AND disabled = TRUE",
        );
        assert_eq!(
            disabled,
            i64::from(action == "enable"),
            "nothing changed before the password"
        );
        let done = app
            .post(&cast.admin, &path, &[("sudo_password", PASSWORD)])
            .await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER);
        app.clock.advance(Duration::minutes(16));
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE email = 'support@acme.test' AND disabled = FALSE"), 1);
}

/// Finding 8: a body that trickles in is cut off with 408, and the connection closes.
#[tokio::test]
async fn a_slow_request_body_is_cut_off_with_408() {
    let app = spawn_app_with(&[("SESAME_BODY_TIMEOUT_SECS", "1")]).await;
    let address = app.address.trim_start_matches("http://").to_string();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let started = Instant::now();
        write!(
            stream,
            "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nemail=a"
        )
        .unwrap();
        let mut answer = String::new();
        // Read to the end: the server must close the connection, not only answer.
        let read = stream.read_to_string(&mut answer);
        (read.is_ok(), answer, started.elapsed())
    })
    .await
    .unwrap();
    let (closed, answer, took) = outcome;
    assert!(closed, "the connection stayed open: {answer:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
}

/// Finding 9: HEAD answers as GET without a body; a wrong method is 405 with `Allow`.
#[tokio::test]
async fn head_answers_as_get_and_a_wrong_method_is_405_with_allow() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Headed").await;
    let login = client()
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let css = format!(
        "/static/{}",
        between(&login, "href=\"/static/", "\"").unwrap()
    );
    for path in ["/healthz", "/login", css.as_str()] {
        let get = client().get(app.url(path)).send().await.unwrap();
        let head = client().head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type")
        );
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
    let head = cast
        .admin
        .client
        .head(app.url("/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let api = client()
        .head(app.url("/api/v1/whoami"))
        .basic_auth(&token.username, Some(&token.password))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    assert!(api.bytes().await.unwrap().is_empty());

    for (method, path, allow) in [
        ("PUT", "/login".to_string(), "GET, HEAD, POST"),
        ("DELETE", format!("/tokens/{}", token.id), "GET, HEAD, POST"),
        ("POST", "/healthz".to_string(), "GET, HEAD"),
        ("GET", format!("/tokens/{}/credentials", token.id), "POST"),
        ("PATCH", "/api/v1/whoami".to_string(), "GET, HEAD"),
    ] {
        for browser in [client(), cast.admin.client.clone()] {
            let response = browser
                .request(method.parse().unwrap(), app.url(&path))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        }
    }
    assert_eq!(
        client()
            .put(app.url("/no/such/page"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

/// Finding 10: a /0 is refused; networks broader than a /8 (or an IPv6 /32) need a tick.
#[tokio::test]
async fn a_zero_prefix_is_refused_and_broad_networks_need_confirming() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let before = app.snapshot();
    let zero = app
        .post(
            &cast.admin,
            "/tokens",
            &[
                ("name", "Typo"),
                ("expires_in", "30d"),
                ("allowed_ips", "127.0.0.2/0"),
            ],
        )
        .await;
    assert_eq!(zero.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = zero.text().await.unwrap();
    assert!(element_text(&html, "allowed_ips-error")
        .unwrap()
        .contains("Leave the field empty to allow any address"));
    let broad = &[
        ("name", "Broad"),
        ("expires_in", "30d"),
        ("allowed_ips", "10.0.0.0/7"),
    ];
    let warned = app.post(&cast.admin, "/tokens", broad).await;
    assert_eq!(warned.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = warned.text().await.unwrap();
    assert!(element_text(&html, "allowed_ips-error")
        .unwrap()
        .contains("10.0.0.0/7"));
    assert!(html.contains("name=\"confirm_broad_networks\""));
    assert_eq!(app.snapshot(), before, "nothing saved");
    let mut confirmed = broad.to_vec();
    confirmed.push(("confirm_broad_networks", "1"));
    let created = app.post(&cast.admin, "/tokens", &confirmed).await;
    assert_eq!(created.status(), StatusCode::OK);
    assert!(app.text("SELECT network AS t FROM token_networks") == "10.0.0.0/7");
    // A /8 needs no confirmation.
    app.create_token(
        &cast.admin,
        &[
            ("name", "Eight"),
            ("expires_in", "30d"),
            ("allowed_ips", "10.0.0.0/8"),
        ],
    )
    .await;
}

/// Finding 11: malformed addresses are not invitations.
#[tokio::test]
async fn malformed_addresses_are_refused_as_invitations() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let users_before = app.count("SELECT COUNT(*) AS n FROM users");
    for email in ["a@x.test,b@y.test", "bad<x>@x.test", "x@[127.0.0.1]"] {
        let response = app
            .post(
                &cast.admin,
                "/users",
                &[("email", email), ("role", "member")],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{email}"
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), users_before);
}

/// Finding 12: a repeated or malformed query parameter answers the app's own 400 page.
#[tokio::test]
async fn a_repeated_query_parameter_is_the_apps_own_400_page() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    for path in [
        "/tokens?q=a&q=b",
        "/tokens/inactive?page=1&page=2",
        "/users?after=a&after=b",
    ] {
        let response = app.get(&cast.admin, path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let html = response.text().await.unwrap();
        assert!(
            !html.contains("deserialize") && html.contains("malformed or repeated parameter"),
            "{html}"
        );
    }
}

/// Finding 13: with `SESAME_METRICS_TOKEN`, `/metrics` needs it.
#[tokio::test]
async fn metrics_need_the_bearer_token_when_one_is_set() {
    let secret = "a-long-metrics-token-0123456789";
    let app = spawn_app_with(&[("SESAME_METRICS_TOKEN", secret)]).await;
    let bare = client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    assert!(!bare.text().await.unwrap().contains("sesame_"));
    let wrong = client()
        .get(app.url("/metrics"))
        .bearer_auth("a-long-metrics-token-0123456780")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = client()
        .get(app.url("/metrics"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await.unwrap().contains("sesame_"));
    // Without the setting, open as before (for a private network).
    let open = spawn_app().await;
    assert_eq!(
        client()
            .get(open.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}
