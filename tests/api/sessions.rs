//! Sessions in the database: signing out ends one session, people see where they are
//! signed in and end any one of them, an admin ends all of a user's, a new device is
//! e-mailed, the timeouts hold on the test clock, and the table never holds a cookie.

use crate::helpers::*;
use crate::statements::{self, Capture};
use chrono::Duration;
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use sesame::config::DatabaseUrl;
use sesame::domain::Role;

const LAPTOP: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// A browser of its own (cookie jar, User-Agent).
fn browser(agent: &str) -> Session {
    Session {
        client: Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .user_agent(agent)
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .unwrap(),
    }
}

async fn sign_in(app: &TestApp, agent: &str, email: &str) -> Session {
    let session = browser(agent);
    let response = submit(
        &session.client,
        &app.url("/login"),
        &app.url("/login"),
        &[("email", email), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "sign-in of {email}"
    );
    session
}

/// Whether the browser is still signed in: a page, or the way to the sign-in form. API
/// Tokens (which on PostgreSQL takes the session's claim from the check cache) is asked
/// first, and must agree with Sessions (which reads the row, and signs a refused browser
/// out, emptying that cache).
async fn signed_in(app: &TestApp, session: &Session) -> bool {
    let on_tokens = page_signed_in(app, session, "/tokens").await;
    let on_sessions = page_signed_in(app, session, "/sessions").await;
    assert_eq!(on_tokens, on_sessions, "API Tokens and Sessions disagree");
    on_sessions
}

async fn page_signed_in(app: &TestApp, session: &Session, path: &str) -> bool {
    let response = app.get(session, path).await;
    match response.status() {
        // A member may not see API Tokens, signed in.
        StatusCode::OK | StatusCode::FORBIDDEN => true,
        StatusCode::SEE_OTHER => {
            assert_eq!(location(&response), sign_in_for(path));
            false
        }
        other => panic!("GET {path} answered {other}"),
    }
}

/// The rows of the user's Sessions page: (public id, the row's HTML).
async fn session_rows(app: &TestApp, session: &Session) -> Vec<(String, String)> {
    let html = app.get_html(session, "/sessions").await;
    html.split("<tr id=\"session-")
        .skip(1)
        .map(|row| {
            let (id, rest) = row.split_once('"').unwrap();
            let row = rest.split("</tr>").next().unwrap();
            (id.to_string(), row.to_string())
        })
        .collect()
}

async fn row_of(app: &TestApp, viewer: &Session, device: &str) -> String {
    session_rows(app, viewer)
        .await
        .into_iter()
        .find(|(_, row)| row.contains(device))
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no session of {device}"))
}

fn user_id(app: &TestApp, email: &str) -> String {
    app.text(&format!(
        "SELECT id AS t FROM users WHERE email = '{email}'"
    ))
}

crate::both_backends! {
#[tokio::test]
async fn signing_out_in_one_browser_leaves_the_other_signed_in() {
    let app = spawn_app().await;
    app.add_user("Acme", "admin@acme.test", Role::Admin);
    let laptop = sign_in(&app, LAPTOP, "admin@acme.test").await;
    let phone = sign_in(&app, PHONE, "admin@acme.test").await;

    let rows = session_rows(&app, &laptop).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (_, mine) = rows.iter().find(|(_, row)| row.contains("This browser")).unwrap();
    assert!(mine.contains("Chrome on macOS") && mine.contains("127.0.0.1"), "{mine}");
    let (_, other) = rows.iter().find(|(_, row)| !row.contains("This browser")).unwrap();
    assert!(other.contains("Safari on iOS") && other.contains("/end\""), "{other}");
    assert!(!mine.contains("/end\""), "the current session is ended by signing out");
    assert!(app.get_html(&laptop, "/dashboard").await.contains("href=\"/sessions\""));

    let out = app.post(&laptop, "/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/login");
    assert!(!signed_in(&app, &laptop).await);
    assert!(signed_in(&app, &phone).await, "the phone stays signed in");
    assert_eq!(session_rows(&app, &phone).await.len(), 1);
}

#[tokio::test]
async fn one_session_or_all_the_others_end_at_their_next_request() {
    let app = spawn_app().await;
    app.add_user("Acme", "admin@acme.test", Role::Admin);
    app.add_user("Acme", "support@acme.test", Role::Support);
    let laptop = sign_in(&app, LAPTOP, "admin@acme.test").await;
    let phone = sign_in(&app, PHONE, "admin@acme.test").await;
    let desktop = sign_in(&app, DESKTOP, "admin@acme.test").await;
    let colleague = sign_in(&app, PHONE, "support@acme.test").await;

    let phone_id = row_of(&app, &laptop, "Safari on iOS").await;
    let ended = app.post(&laptop, &format!("/sessions/{phone_id}/end"), &[]).await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&ended), "/sessions");
    assert!(!signed_in(&app, &phone).await, "the ended session's cookie opens nothing");
    assert!(signed_in(&app, &laptop).await && signed_in(&app, &desktop).await);

    // Someone else's session is none of theirs; the current one is ended by signing out.
    let theirs = row_of(&app, &colleague, "Safari on iOS").await;
    let refused = app.post(&laptop, &format!("/sessions/{theirs}/end"), &[]).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert!(signed_in(&app, &colleague).await);
    for bad in ["%00", "not-a-session", "x%27%20OR%201%3D1"] {
        let response = app.post(&laptop, &format!("/sessions/{bad}/end"), &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{bad}");
    }
    let own = row_of(&app, &laptop, "Chrome on macOS").await;
    assert_eq!(
        app.post(&laptop, &format!("/sessions/{own}/end"), &[]).await.status(),
        StatusCode::CONFLICT
    );

    let others = app.post(&laptop, "/sessions/end-others", &[]).await;
    assert_eq!(others.status(), StatusCode::SEE_OTHER);
    assert!(!signed_in(&app, &desktop).await);
    assert!(signed_in(&app, &laptop).await, "the session that asked stays");
    assert!(signed_in(&app, &colleague).await, "another user's session stays");
    assert_eq!(session_rows(&app, &laptop).await.len(), 1);
    let admin = user_id(&app, "admin@acme.test");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM audit_events WHERE actor_id = '{admin}' \
             AND action IN ('session.ended', 'session.ended_others')"
        )),
        2
    );
}

#[tokio::test]
async fn a_session_ends_after_its_idle_timeout_and_the_scheduler_deletes_it() {
    let app = spawn_app_with(&[
        ("SESAME_SESSION_IDLE_MINUTES", "30"),
        ("SESAME_SESSION_MAX_MINUTES", "720"),
    ])
    .await;
    app.add_user("Acme", "admin@acme.test", Role::Admin);
    let active = sign_in(&app, LAPTOP, "admin@acme.test").await;
    let idle = sign_in(&app, PHONE, "admin@acme.test").await;
    for _ in 0..3 {
        app.clock.advance(Duration::minutes(20));
        assert!(signed_in(&app, &active).await, "activity keeps it alive");
    }
    assert!(!signed_in(&app, &idle).await, "idle for 60 minutes");
    let rows = "SELECT COUNT(*) AS n FROM sessions WHERE user_id IS NOT NULL";
    assert_eq!(app.count(rows), 2, "the idle row waits for the scheduler");
    assert!(app.tick().await.sessions_expired >= 1);
    assert_eq!(app.count(rows), 1);

    // The absolute timeout: 12 hours after signing in, however active.
    for _ in 0..32 {
        app.clock.advance(Duration::minutes(20));
        assert!(signed_in(&app, &active).await);
    }
    app.clock.advance(Duration::minutes(20));
    assert!(!signed_in(&app, &active).await, "12 hours after signing in");
}

#[tokio::test]
async fn the_session_table_holds_no_cookie_and_keys_turn_over_at_sign_in_and_sudo() {
    let app = spawn_app_with(&[("SESAME_SUDO_MINUTES", "15")]).await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Guarded").await;
    // A browser without a cookie jar: the cookies, as a thief would hold them.
    let raw = Client::builder().redirect(Policy::none()).build().unwrap();
    let cookie_of = |response: &reqwest::Response| {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|v| v.starts_with("sesame_session="))
            .map(|v| v.split(';').next().unwrap().to_string())
    };
    let login = raw.get(app.url("/login")).send().await.unwrap();
    let anonymous = cookie_of(&login).unwrap();
    let csrf = csrf_in(&login.text().await.unwrap());
    let signed = raw
        .post(app.url("/login"))
        .header("cookie", &anonymous)
        .form(&[("csrf_token", csrf.as_str()), ("email", "admin@acme.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    let cookie = cookie_of(&signed).expect("a new key at sign-in");
    assert_ne!(cookie, anonymous);
    let with = |cookie: &str, path: &str| raw.get(app.url(path)).header("cookie", cookie).send();
    assert_eq!(with(&cookie, "/dashboard").await.unwrap().status(), StatusCode::OK);
    assert_eq!(with(&anonymous, "/dashboard").await.unwrap().status(), StatusCode::SEE_OTHER);

    // Only the key's SHA-256 is stored: no column holds the cookie, or any part of it.
    let value = cookie.trim_start_matches("sesame_session=");
    assert!(value.len() >= 43, "{value}");
    let sessions = app.count("SELECT COUNT(*) AS n FROM sessions");
    assert!(sessions >= 5, "{sessions}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions WHERE length(key_hash) = 32"), sessions);
    for part in [value, &value[..16], &value[value.len() - 16..]] {
        let part = part.replace('\'', "''");
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) AS n FROM sessions WHERE state LIKE '%{part}%' OR id LIKE '%{part}%' \
                 OR COALESCE(ip, '') LIKE '%{part}%'"
            )),
            0
        );
    }

    // Confirming the password for a sensitive action moves the session to a new key.
    app.clock.advance(Duration::minutes(16));
    let path = format!("/tokens/{}/credentials", token.id);
    let page = with(&cookie, "/dashboard").await.unwrap().text().await.unwrap();
    let confirmed = raw
        .post(app.url(&path))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf_in(&page).as_str()), ("sudo_password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK);
    let rotated = cookie_of(&confirmed).expect("a new key after sudo");
    assert_ne!(rotated, cookie);
    assert_eq!(with(&rotated, "/dashboard").await.unwrap().status(), StatusCode::OK);
    assert_eq!(with(&cookie, "/dashboard").await.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions"), sessions, "the same session");
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_a_minute() {
    let app = spawn_app().await;
    app.add_user("Acme", "admin@acme.test", Role::Admin);
    let admin = sign_in(&app, LAPTOP, "admin@acme.test").await;
    let id = user_id(&app, "admin@acme.test");
    let seen = || app.text(&format!("SELECT CAST(seen_at AS TEXT) AS t FROM sessions WHERE user_id = '{id}'"));
    let first = seen();
    app.clock.advance(Duration::seconds(30));
    assert!(signed_in(&app, &admin).await);
    assert_eq!(seen(), first, "30 seconds later");
    app.clock.advance(Duration::seconds(31));
    assert!(signed_in(&app, &admin).await);
    assert_ne!(seen(), first, "61 seconds later");
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_is_mailed_to_its_user() {
    let app = spawn_app_with(&[("SESAME_BASE_URL", "https://tokens.example.com")]).await;
    app.add_user("Acme", "admin@acme.test", Role::Admin);
    let notices = |subject: &str| {
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM outbox WHERE kind = 'new_sign_in' \
             AND recipient = 'admin@acme.test' AND subject = '{subject}'"
        ))
    };
    let chrome = "New sign-in to Sesame Tokens from Chrome on macOS";
    sign_in(&app, LAPTOP, "admin@acme.test").await;
    assert_eq!(notices(chrome), 1);
    let body = app.text("SELECT body_text AS t FROM outbox WHERE kind = 'new_sign_in'");
    assert!(body.contains("127.0.0.1"), "{body}");
    assert!(body.contains("https://tokens.example.com/sessions"), "{body}");
    assert!(body.contains(" UTC"), "{body}");

    // The same browser and address again: known. Another browser: new.
    app.clock.advance(Duration::days(29));
    sign_in(&app, LAPTOP, "admin@acme.test").await;
    assert_eq!(notices(chrome), 1);
    sign_in(&app, PHONE, "admin@acme.test").await;
    assert_eq!(notices("New sign-in to Sesame Tokens from Safari on iOS"), 1);
    // Not seen for 30 days: new again.
    app.clock.advance(Duration::days(31));
    sign_in(&app, LAPTOP, "admin@acme.test").await;
    assert_eq!(notices(chrome), 2);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'new_sign_in'"), 3);
}

#[tokio::test]
async fn an_admin_signs_a_user_out_everywhere_and_role_changes_do_too() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let second = sign_in(&app, PHONE, "support@acme.test").await;
    let support = user_id(&app, "support@acme.test");
    let path = format!("/users/{support}/sessions/end");
    assert!(app.get_html(&cast.admin, "/users").await.contains(&format!("action=\"{path}\"")));

    assert_eq!(app.post(&cast.support, &path, &[]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.post(&cast.other_admin, &path, &[]).await.status(), StatusCode::NOT_FOUND);
    assert!(signed_in(&app, &second).await);

    let ended = app.post(&cast.admin, &path, &[]).await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert!(!signed_in(&app, &cast.support).await && !signed_in(&app, &second).await);
    assert!(signed_in(&app, &cast.admin).await);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'user.sessions_ended'"),
        1
    );

    // A new role: the member signs in again to the pages of their new role.
    let member = user_id(&app, "member@acme.test");
    let role = app.post(&cast.admin, &format!("/users/{member}/role"), &[("role", "support")]).await;
    assert_eq!(role.status(), StatusCode::SEE_OTHER);
    assert!(!signed_in(&app, &cast.member).await);
}

#[tokio::test]
async fn checking_a_session_is_one_indexed_read_that_also_loads_the_user_or_on_postgresql_a_cached_claim() {
    statements::install();
    let app = spawn_app().await;
    app.add_user("Acme", "admin@acme.test", Role::Admin);
    let admin = sign_in(&app, LAPTOP, "admin@acme.test").await;
    app.get_html(&admin, "/audit").await;
    let capture = Capture::start(&app.database_url());
    app.get_html(&admin, "/audit").await;
    let all_statements = capture.take();
    assert!(!all_statements.is_empty(), "nothing captured");
    let on_sessions: Vec<_> = all_statements
        .iter()
        // SQLite's statements quote names with backticks, PostgreSQL's with double quotes.
        .filter(|s| s.sql.replace('`', "\"").contains("\"sessions\""))
        .cloned()
        .collect();
    assert_eq!(on_sessions.len(), 1, "{on_sessions:?}");
    // It also reads the user and their account: no other statement does.
    let users_read = all_statements
        .iter()
        .filter(|s| s.sql.replace('`', "\"").contains("FROM (\"users\""))
        .count();
    assert_eq!(users_read, 0, "{all_statements:?}");
    assert!(on_sessions[0].is_select(), "{on_sessions:?}");
    assert!(
        on_sessions[0].sql.replace('`', "\"").contains("\"key_hash\" = "),
        "{on_sessions:?}"
    );
    if let DatabaseUrl::Sqlite(_) = &app.settings.database_url {
        // Planned on a blank database, which the planner knows nothing of (here, with one
        // user, scanning would be cheapest): the plan must not need statistics.
        use diesel::Connection;
        let blank = tempfile::tempdir().unwrap();
        let path = blank.path().join("blank.db");
        drop(sesame::db::connect(&DatabaseUrl::Sqlite(path.clone())).unwrap());
        let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        let plan = statements::sqlite_plan(&mut conn, &on_sessions[0].sql);
        // The session by its key, then its user and their account by primary key.
        assert!(plan[0].starts_with("SEARCH sessions USING INDEX"), "{plan:?}");
        assert!(
            plan.iter().all(|line| line.starts_with("SEARCH ") && line.contains("=?)")),
            "{plan:?}"
        );
    }

    // The token pages on PostgreSQL take the claim, once read, from the check cache
    // (`auth::guards::Claim`); on SQLite, where the read is in-process, they read it.
    let expected = match app.settings.database_url {
        DatabaseUrl::Sqlite(_) => 1,
        DatabaseUrl::Postgres(_) => 0,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !app.check_cache.serving() {
        assert!(std::time::Instant::now() < deadline, "the check cache never served");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for page in ["/dashboard", "/tokens", "/tokens/inactive"] {
        app.get_html(&admin, page).await;
        capture.take();
        app.get_html(&admin, page).await;
        let ran = capture.take();
        let on_sessions = ran.iter().filter(|s| s.sql.replace('`', "\"").contains("\"sessions\"")).count();
        assert_eq!(on_sessions, expected, "{page}: {ran:?}");
    }
}
}
