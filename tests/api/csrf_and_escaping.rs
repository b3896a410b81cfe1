use crate::helpers::*;
use reqwest::StatusCode;

crate::both_backends! {
#[tokio::test]
async fn a_post_without_the_sessions_csrf_token_is_refused_with_403() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Target").await;
    let foreign = app.csrf(&cast.other_admin).await;
    let before = app.snapshot();
    let fields = [("name", "Sneaky"), ("expires_in", "7d")];
    for csrf in [None, Some(""), Some("forged"), Some(foreign.as_str())] {
        for path in [
            "/tokens".to_string(),
            format!("/tokens/{}", token.id),
            format!("/tokens/{}/revoke", token.id),
        ] {
            let mut form: Vec<(&str, &str)> = fields.to_vec();
            if let Some(csrf) = csrf {
                form.push(("csrf_token", csrf));
            }
            let response = cast
                .admin
                .client
                .post(app.url(&path))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{path} with {csrf:?}"
            );
        }
    }
    assert_eq!(app.snapshot(), before);
}

#[tokio::test]
async fn sign_in_needs_the_csrf_token_too() {
    let app = spawn_app().await;
    app.add_user("Acme", "admin@acme.test", sesame::domain::Role::Admin);
    let response = client()
        .post(app.url("/login"))
        .form(&[("email", "admin@acme.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_name_with_markup_is_shown_escaped_everywhere() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let name = "<script>alert(1)</script>";
    let token = app
        .create_token(
            &cast.admin,
            &[
                ("name", name),
                ("expires_in", "7d"),
                ("description", "<img src=x onerror=alert(2)>"),
            ],
        )
        .await;
    let escaped = "&#60;script&#62;alert(1)&#60;/script&#62;";
    for path in [
        "/tokens".to_string(),
        format!("/tokens/{}", token.id),
        "/dashboard".into(),
        "/audit".into(),
    ] {
        let html = app.get_html(&cast.admin, &path).await;
        assert!(
            !html.contains(name) && !html.contains("<img src=x"),
            "{path} has raw markup"
        );
        assert!(
            html.contains(escaped) || path == "/audit",
            "{path} shows the escaped name"
        );
    }
    app.post(
        &cast.admin,
        &format!("/tokens/{}/revoke", token.id),
        &[("reason", "<b>bold</b>")],
    )
    .await;
    let inactive = app.get_html(&cast.admin, "/tokens/inactive").await;
    assert!(!inactive.contains("<b>bold</b>") && inactive.contains(escaped));
}

#[tokio::test]
async fn pages_carry_the_security_headers() {
    let app = spawn_app().await;
    let response = client().get(app.url("/login")).send().await.unwrap();
    let headers = response.headers();
    let csp = headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(headers.get("referrer-policy").unwrap(), "no-referrer");
}
}
