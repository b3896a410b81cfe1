//! Bad input: the form again with 422, the error beside its field, the input kept, nothing saved.

use crate::helpers::*;
use chrono::{Duration, Utc};
use reqwest::StatusCode;

/// (label, form fields, id of the error element, what it says)
type BadInput<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);

crate::both_backends! {
#[tokio::test]
async fn every_bad_add_token_input_is_refused_and_saves_nothing() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    app.create_named(&cast.admin, "Taken").await;
    let today = Utc::now().date_naive();
    let past = (today - Duration::days(1)).to_string();
    let too_far = (today + Duration::days(366)).to_string();
    let long_name = "n".repeat(101);
    let many: String = (0..101)
        .map(|i| format!("10.0.{}.{}\n", i / 200, i % 200))
        .collect();

    let cases: Vec<BadInput> = vec![
        (
            "empty name",
            vec![("name", "   "), ("expires_in", "30d")],
            "name-error",
            "Enter a name",
        ),
        (
            "long name",
            vec![("name", &long_name), ("expires_in", "30d")],
            "name-error",
            "at most 100",
        ),
        (
            "duplicate name",
            vec![("name", "taken"), ("expires_in", "30d")],
            "name-error",
            "already exists",
        ),
        (
            "control character",
            vec![("name", "a\u{7}b"), ("expires_in", "30d")],
            "name-error",
            "control",
        ),
        (
            "no lifetime",
            vec![("name", "x")],
            "expires-error",
            "Choose when",
        ),
        (
            "unknown preset",
            vec![("name", "x"), ("expires_in", "8d")],
            "expires-error",
            "listed lifetimes",
        ),
        (
            "custom without date",
            vec![("name", "x"), ("expires_in", "custom")],
            "expires-error",
            "Enter the expiry date",
        ),
        (
            "bad date",
            vec![
                ("name", "x"),
                ("expires_in", "custom"),
                ("expires_on", "31/12/2026"),
            ],
            "expires-error",
            "YYYY-MM-DD",
        ),
        (
            "past date",
            vec![
                ("name", "x"),
                ("expires_in", "custom"),
                ("expires_on", &past),
            ],
            "expires-error",
            "past",
        ),
        (
            "over a year",
            vec![
                ("name", "x"),
                ("expires_in", "custom"),
                ("expires_on", &too_far),
            ],
            "expires-error",
            "365 days",
        ),
        (
            "prefix too long",
            vec![
                ("name", "x"),
                ("expires_in", "7d"),
                ("allowed_ips", "10.0.0.0/33"),
            ],
            "allowed_ips-error",
            "10.0.0.0/33",
        ),
        (
            "octet too big",
            vec![
                ("name", "x"),
                ("expires_in", "7d"),
                ("allowed_ips", "300.1.1.1"),
            ],
            "allowed_ips-error",
            "300.1.1.1",
        ),
        (
            "ipv6 prefix",
            vec![
                ("name", "x"),
                ("expires_in", "7d"),
                ("allowed_ips", "fe80::/129"),
            ],
            "allowed_ips-error",
            "fe80::/129",
        ),
        (
            "101 networks",
            vec![("name", "x"), ("expires_in", "7d"), ("allowed_ips", &many)],
            "allowed_ips-error",
            "At most 100",
        ),
    ];
    let before = app.snapshot();
    for (label, fields, error_id, message) in cases {
        let mut fields = fields;
        fields.push(("description", "kept description"));
        let response = app.post(&cast.admin, "/tokens", &fields).await;
        let status = response.status();
        let html = response.text().await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{label}: {html}");
        let shown =
            element_text(&html, error_id).unwrap_or_else(|| panic!("{label}: no #{error_id}"));
        assert!(shown.contains(message), "{label}: {shown}");
        assert!(
            html.contains("kept description"),
            "{label}: the input is kept"
        );
        assert!(html.contains("aria-invalid=\"true\""), "{label}");
    }
    assert_eq!(app.snapshot(), before, "nothing was saved");
}

#[tokio::test]
async fn an_oversized_body_and_invalid_utf8_are_refused_with_422() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let csrf = app.csrf(&cast.admin).await;
    let before = app.snapshot();

    let huge = format!(
        "csrf_token={csrf}&name=big&expires_in=7d&description={}",
        "a".repeat(70 * 1024)
    );
    let response = cast
        .admin
        .client
        .post(app.url("/tokens"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("larger than 64 KiB"));

    for body in [
        format!("csrf_token={csrf}&name=caf%E9&expires_in=7d").into_bytes(),
        [
            format!("csrf_token={csrf}&expires_in=7d&name=").into_bytes(),
            vec![0xff, 0xfe, b'x'],
        ]
        .concat(),
    ] {
        let response = cast
            .admin
            .client
            .post(app.url("/tokens"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = response.text().await.unwrap();
        assert!(element_text(&html, "name-error").unwrap().contains("UTF-8"));
    }
    assert_eq!(app.snapshot(), before);
}

#[tokio::test]
async fn a_bad_update_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    app.create_named(&cast.admin, "Other").await;
    let token = app
        .create_token(
            &cast.admin,
            &[
                ("name", "Mine"),
                ("expires_in", "30d"),
                ("allowed_ips", "192.0.2.1"),
            ],
        )
        .await;
    let path = format!("/tokens/{}", token.id);
    let before = app.snapshot();
    for (fields, error_id) in [
        (
            vec![("name", ""), ("allowed_ips", "192.0.2.1")],
            "name-error",
        ),
        (
            vec![("name", "other"), ("allowed_ips", "192.0.2.1")],
            "name-error",
        ),
        (
            vec![("name", "Mine"), ("allowed_ips", "10.0.0.0/33")],
            "allowed_ips-error",
        ),
        (
            vec![("name", "Mine"), ("description", &"d".repeat(1001))],
            "description-error",
        ),
    ] {
        let response = app.post(&cast.admin, &path, &fields).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = response.text().await.unwrap();
        assert!(element_text(&html, error_id).is_some(), "{error_id}");
    }
    assert_eq!(app.snapshot(), before);
    assert_eq!(
        app.post(&cast.admin, "/tokens/unknown-id", &[("name", "x")])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_over_long_revoke_reason_is_refused() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Keep me").await;
    let reason = "r".repeat(501);
    let response = app
        .post(
            &cast.admin,
            &format!("/tokens/{}/revoke", token.id),
            &[("reason", &reason)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(element_text(&response.text().await.unwrap(), "reason-error").is_some());
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_tokens WHERE revoked_at IS NOT NULL"),
        0
    );
}
}
