//! Your account: changing one's own password (which signs out one's other sessions), and
//! signing in from a link lands where the link pointed (local paths only).

use crate::helpers::*;
use reqwest::StatusCode;

const NEW_PASSWORD: &str = "amber-Quiver-pebble-91-meadow";

/// Signs in on a fresh client through the sign-in page at `login_path`, posting `next`.
async fn sign_in_with_next(app: &TestApp, login_path: &str, next: &str) -> reqwest::Response {
    let browser = client();
    submit(
        &browser,
        &app.url(login_path),
        &app.url("/login"),
        &[
            ("email", "admin@acme.test"),
            ("password", PASSWORD),
            ("next", next),
        ],
    )
    .await
}

async fn sign_in_as(app: &TestApp, email: &str, password: &str) -> StatusCode {
    let browser = client();
    submit(
        &browser,
        &app.url("/login"),
        &app.url("/login"),
        &[("email", email), ("password", password)],
    )
    .await
    .status()
}

async fn change(
    app: &TestApp,
    session: &Session,
    current: &str,
    new: &str,
    confirm: &str,
) -> reqwest::Response {
    let fields = [
        ("current_password", current),
        ("new_password", new),
        ("new_password_confirm", confirm),
    ];
    app.post(session, "/account/password", &fields).await
}

crate::both_backends! {
#[tokio::test]
async fn changing_ones_password_needs_the_current_one_and_signs_out_the_other_sessions() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let laptop = app.login("admin@acme.test").await;
    let audit_before = app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'user.password_changed'");
    // Refused, with the reason on the page, and nothing changed.
    for (current, new, confirm, reason) in [
        ("not my password at all", NEW_PASSWORD, NEW_PASSWORD, "not the one you typed"),
        (PASSWORD, NEW_PASSWORD, "amber-Quiver-pebble-91-meadoW", "differ"),
        (PASSWORD, "short", "short", "at least 12"),
        (PASSWORD, "password1234", "password1234", "too easy to guess"),
    ] {
        let refused = change(&app, &cast.admin, current, new, confirm).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{reason}");
        let page = refused.text().await.unwrap();
        assert!(element_text(&page, "password-error").unwrap().contains(reason), "{page}");
        assert!(!page.contains(NEW_PASSWORD), "a password is never shown back");
    }
    assert_eq!(app.get(&laptop, "/dashboard").await.status(), StatusCode::OK);
    assert_eq!(sign_in_as(&app, "admin@acme.test", PASSWORD).await, StatusCode::SEE_OTHER);

    // Without the form's CSRF token: 403, nothing changed.
    let forged = cast
        .admin
        .client
        .post(app.url("/account/password"))
        .form(&[("current_password", PASSWORD), ("new_password", NEW_PASSWORD), ("new_password_confirm", NEW_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(sign_in_as(&app, "admin@acme.test", PASSWORD).await, StatusCode::SEE_OTHER);

    let changed = change(&app, &cast.admin, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&changed), "/account");
    let page = app.get_html(&cast.admin, "/account").await;
    // The laptop's, and the two sign-ins above.
    assert!(page.contains("Your password is changed, and your 3 other sessions are signed out."), "{page}");
    // This session stays; the others are gone.
    assert_eq!(app.get(&cast.admin, "/dashboard").await.status(), StatusCode::OK);
    assert_eq!(app.get(&laptop, "/dashboard").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(sign_in_as(&app, "admin@acme.test", PASSWORD).await, StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in_as(&app, "admin@acme.test", NEW_PASSWORD).await, StatusCode::SEE_OTHER);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'user.password_changed'"),
        audit_before + 1
    );
    // Another user's password is untouched.
    assert_eq!(sign_in_as(&app, "support@acme.test", PASSWORD).await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn guessing_the_current_password_is_throttled_as_sign_ins_are() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let response = change(&app, &cast.support, "a wrong guess here", NEW_PASSWORD, NEW_PASSWORD).await;
        statuses.push(response.status());
    }
    assert!(statuses[..10].iter().all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY), "{statuses:?}");
    assert_eq!(statuses[11], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    // Even the right password waits out the lockout.
    let right = change(&app, &cast.support, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn signing_in_from_a_link_lands_on_the_linked_page_and_only_on_this_site() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Linked").await;
    let target = format!("/tokens/{}", token.id);

    // Signed out, the link leads to the sign-in page, which keeps it.
    let visit = client().get(app.url(&target)).send().await.unwrap();
    assert_eq!(visit.status(), StatusCode::SEE_OTHER);
    let login_path = location(&visit);
    assert_eq!(login_path, format!("/login?next=%2Ftokens%2F{}", token.id));
    let page = client().get(app.url(&login_path)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("name=\"next\" value=\"{target}\"")), "{page}");
    let landed = sign_in_with_next(&app, &login_path, &target).await;
    assert_eq!(location(&landed), target);
    // A query survives the trip.
    let searched = client().get(app.url("/tokens?q=Linked&page=1")).send().await.unwrap();
    assert_eq!(location(&searched), "/login?next=%2Ftokens%3Fq%3DLinked%26page%3D1");
    assert_eq!(location(&sign_in_with_next(&app, &location(&searched), "/tokens?q=Linked&page=1").await), "/tokens?q=Linked&page=1");

    // Anywhere else lands on the Dashboard.
    for elsewhere in ["//evil.test", "https://evil.test/", "/\\evil.test", "http:evil.test", "", "/login"] {
        let landed = sign_in_with_next(&app, "/login", elsewhere).await;
        assert_eq!(landed.status(), StatusCode::SEE_OTHER, "{elsewhere}");
        assert_eq!(location(&landed), "/dashboard", "{elsewhere:?}");
    }
    let page = client().get(app.url("/login?next=%2F%2Fevil.test")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("evil.test"), "a foreign target is not even kept: {page}");

    // Signed in already: straight there.
    let already = app.get(&cast.admin, &format!("/login?next={}", "%2Faudit")).await;
    assert_eq!(location(&already), "/audit");
    let already = app.get(&cast.admin, "/login?next=%2F%2Fevil.test").await;
    assert_eq!(location(&already), "/dashboard");
    // The parameter given twice is a malformed request.
    let twice = client().get(app.url("/login?next=%2Faudit&next=%2Fusers")).send().await.unwrap();
    assert_eq!(twice.status(), StatusCode::BAD_REQUEST);
    // A form posted while signed out has no page to come back to.
    let posted = client().post(app.url(&target)).form(&[("name", "x")]).send().await.unwrap();
    assert!(posted.status() == StatusCode::FORBIDDEN || location(&posted) == "/login", "{}", posted.status());
}
}
