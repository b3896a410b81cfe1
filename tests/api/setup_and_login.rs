use crate::helpers::*;
use reqwest::StatusCode;

crate::both_backends! {
#[tokio::test]
async fn the_app_runs_on_the_backend_under_test() {
    let app = spawn_app().await;
    let expected = crate::helpers::BACKEND.with(|b| *b);
    let actual = match app.settings.database_url {
        sesame::config::DatabaseUrl::Sqlite(_) => crate::helpers::Backend::Sqlite,
        sesame::config::DatabaseUrl::Postgres(_) => crate::helpers::Backend::Postgres,
    };
    assert_eq!(actual, expected);
    if expected == crate::helpers::Backend::Postgres {
        let version = app.text("SELECT CAST(version() AS TEXT) AS t");
        assert!(version.starts_with("PostgreSQL"), "{version}");
    }
}

#[tokio::test]
async fn first_run_setup_needs_the_code_from_the_log_and_then_closes() {
    let app = spawn_app().await;
    let code = app
        .setup_code
        .clone()
        .expect("a fresh install has a setup code");
    let browser = client();

    let response = browser.get(app.url("/login")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/setup");

    let page = browser
        .get(app.url("/setup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&page);
    let form = |code: &str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("setup_code", code.to_string()),
            ("account_name", "Acme".to_string()),
            ("email", "Admin@Acme.test".to_string()),
            ("password", PASSWORD.to_string()),
            ("password_confirm", PASSWORD.to_string()),
        ]
    };

    let wrong = browser
        .post(app.url("/setup"))
        .form(&form("not-the-code"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text().await.unwrap().contains("not the setup code"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 0);

    let right = browser
        .post(app.url("/setup"))
        .form(&form(&code))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&right), "/dashboard");
    let dashboard = browser.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(dashboard.status(), StatusCode::OK);
    assert!(dashboard.text().await.unwrap().contains("admin@acme.test"));

    // Closed from now on, even with the right code.
    let again = browser.get(app.url("/setup")).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let mut replay_form = form(&code);
    let signed_in_page = browser
        .get(app.url("/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    replay_form[0].1 = csrf_in(&signed_in_page);
    let replay = browser
        .post(app.url("/setup"))
        .form(&replay_form)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::CONFLICT);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 1);
}

#[tokio::test]
async fn setup_refuses_a_short_password_and_keeps_the_input() {
    let app = spawn_app().await;
    let browser = client();
    let response = submit(
        &browser,
        &app.url("/setup"),
        &app.url("/setup"),
        &[
            ("setup_code", app.setup_code.as_deref().unwrap()),
            ("account_name", "Acme Widgets"),
            ("email", "admin@acme.test"),
            ("password", "short"),
            ("password_confirm", "short"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("at least 12 characters"));
    assert!(html.contains("value=\"Acme Widgets\""));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM accounts"), 0);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_address_get_the_same_answer() {
    let app = spawn_app().await;
    app.add_user("Acme", "admin@acme.test", sesame::domain::Role::Admin);
    let mut answers = Vec::new();
    for (email, password) in [
        ("admin@acme.test", "wrong password!!"),
        ("nobody@acme.test", PASSWORD),
    ] {
        let browser = client();
        let response = submit(
            &browser,
            &app.url("/login"),
            &app.url("/login"),
            &[("email", email), ("password", password)],
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let html = response.text().await.unwrap();
        answers.push(element_text(&html, "login-error").unwrap());
        assert_eq!(
            browser
                .get(app.url("/dashboard"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'user.signin_failed'"),
        1
    );
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_lax() {
    let app = spawn_app().await;
    app.add_user("Acme", "admin@acme.test", sesame::domain::Role::Admin);
    let response = client().get(app.url("/login")).send().await.unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("sesame_session="));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "the test server is plain http");
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_base_url_is_https() {
    let app = spawn_app_with(&[("SESAME_BASE_URL", "https://tokens.example.com")]).await;
    app.add_user("Acme", "admin@acme.test", sesame::domain::Role::Admin);
    let response = client().get(app.url("/login")).send().await.unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn signing_out_kills_every_copy_of_that_sessions_cookie() {
    let app = spawn_app().await;
    app.add_user("Acme", "admin@acme.test", sesame::domain::Role::Admin);
    // A browser without a cookie jar, so we hold the raw cookie as a thief would.
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The session cookie (a sign-in also sets the device cookie).
    let cookie_of = |response: &reqwest::Response| {
        let set_cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|v| v.starts_with("sesame_session="))
            .unwrap();
        set_cookie.split(';').next().unwrap().to_string()
    };
    let login_page = raw.get(app.url("/login")).send().await.unwrap();
    let anonymous_cookie = cookie_of(&login_page);
    let csrf = csrf_in(&login_page.text().await.unwrap());
    let signed_in = raw
        .post(app.url("/login"))
        .header("cookie", anonymous_cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", "admin@acme.test"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let copied = cookie_of(&signed_in);
    let with_copy = |path: &str| {
        raw.get(app.url(path))
            .header("cookie", copied.clone())
            .send()
    };
    assert_eq!(
        with_copy("/dashboard").await.unwrap().status(),
        StatusCode::OK
    );

    // Another browser of the same admin stays signed in when this one signs out.
    let admin = app.login("admin@acme.test").await;
    let page = with_copy("/dashboard").await.unwrap().text().await.unwrap();
    let signed_out = raw
        .post(app.url("/logout"))
        .header("cookie", copied.clone())
        .form(&[("csrf_token", csrf_in(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_out), "/login");

    // Every copy of the signed-out cookie is worthless: the session is gone from the table.
    let after = with_copy("/dashboard").await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&after), sign_in_for("/dashboard"));
    assert_eq!(app.get(&admin, "/dashboard").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn health_answers_when_the_database_does() {
    let app = spawn_app().await;
    let response = client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
}
