//! The token API: strict credential checks, expiry, revocation, IP rules, throttling.

use crate::helpers::*;
use base64::Engine;
use chrono::Duration;
use reqwest::{Client, Response, StatusCode};
use std::time::Instant;

async fn call(
    app: &TestApp,
    path: &str,
    authorization: Option<&str>,
    forwarded_for: Option<&str>,
) -> Response {
    let mut request = Client::new().get(app.url(path));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    request.send().await.unwrap()
}

async fn whoami(app: &TestApp, token: &Created) -> Response {
    call(
        app,
        "/api/v1/whoami",
        Some(&basic(&token.username, &token.password)),
        None,
    )
    .await
}

/// Waits for something the app writes in the background.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

crate::both_backends! {
#[tokio::test]
async fn whoami_answers_who_the_token_is() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app
        .create_token(&cast.admin, &[("name", "Exporter"), ("expires_in", "30d")])
        .await;
    let response = whoami(&app, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert!(
        response.headers().get("set-cookie").is_none(),
        "the API sets no cookie"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token"]["id"], token.id.as_str());
    assert_eq!(body["token"]["name"], "Exporter");
    assert_eq!(body["token"]["username"], token.username.as_str());
    let expires = body["token"]["expires_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(expires).is_ok() && expires.ends_with('Z'),
        "{expires}"
    );
    assert_eq!(body["account"]["name"], "Acme");
    let account_id = body["account"]["id"].as_str().unwrap().to_string();

    let forward = call(
        &app,
        "/api/v1/auth",
        Some(&basic(&token.username, &token.password)),
        None,
    )
    .await;
    assert_eq!(forward.status(), StatusCode::NO_CONTENT);
    assert_eq!(forward.headers()["x-sesame-token-id"], token.id.as_str());
    assert_eq!(
        forward.headers()["x-sesame-account-id"],
        account_id.as_str()
    );
}

#[tokio::test]
async fn every_credential_problem_gets_the_same_401() {
    let app = spawn_app_with(&[("SESAME_API_MAX_FAILURES_PER_MINUTE", "1000")]).await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Real").await;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let huge = format!("Basic {}", "A".repeat(8 * 1024));
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing header", None),
        ("another scheme", Some(format!("Bearer {}", token.password))),
        ("bad base64", Some("Basic %%%not-base64%%%".into())),
        (
            "no colon",
            Some(format!("Basic {}", b64(token.username.as_bytes()))),
        ),
        (
            "invalid UTF-8",
            Some(format!("Basic {}", b64(&[0xff, b':', 0xfe]))),
        ),
        ("8 KiB header", Some(huge)),
        (
            "wrong password",
            Some(basic(
                &token.username,
                "wrong-password-wrong-password-wrong-pass",
            )),
        ),
        (
            "unknown username",
            Some(basic("tok_doesnotexist000000", &token.password)),
        ),
        ("empty password", Some(basic(&token.username, ""))),
    ];
    let mut bodies = Vec::new();
    for (label, header) in cases {
        for path in ["/api/v1/whoami", "/api/v1/auth"] {
            let response = call(&app, path, header.as_deref(), None).await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{label} on {path}"
            );
            assert_eq!(
                response.headers()["www-authenticate"],
                "Basic realm=\"Sesame\"",
                "{label}"
            );
            bodies.push(response.text().await.unwrap());
        }
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "one message for every failure: {bodies:?}");
    assert_eq!(
        call(&app, "/api/v1/nothing", None, None).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn expired_and_revoked_tokens_are_refused() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let weekly = app
        .create_token(&cast.admin, &[("name", "Weekly"), ("expires_in", "7d")])
        .await;
    let revoked = app.create_named(&cast.admin, "Revoked").await;
    assert_eq!(whoami(&app, &revoked).await.status(), StatusCode::OK);
    let response = app
        .post(&cast.admin, &format!("/tokens/{}/revoke", revoked.id), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        whoami(&app, &revoked).await.status(),
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(whoami(&app, &weekly).await.status(), StatusCode::OK);
    app.clock.advance(Duration::days(7) + Duration::seconds(1));
    assert_eq!(
        whoami(&app, &weekly).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn no_request_sent_after_the_revoke_returns_is_accepted() {
    // A limit high enough that refusals after the revoke stay 401s, not 429s.
    let app = std::sync::Arc::new(
        spawn_app_with(&[("SESAME_API_MAX_FAILURES_PER_MINUTE", "1000000")]).await,
    );
    let cast = app.cast().await;
    let token = std::sync::Arc::new(app.create_named(&cast.admin, "Hammered").await);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut hammers = Vec::new();
    for _ in 0..6 {
        let (app, token, stop) = (app.clone(), token.clone(), stop.clone());
        hammers.push(tokio::spawn(async move {
            let client = Client::new();
            let header = basic(&token.username, &token.password);
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let sent = Instant::now();
                let response = client
                    .get(app.url("/api/v1/whoami"))
                    .header("authorization", &header)
                    .send()
                    .await
                    .unwrap();
                seen.push((sent, response.status()));
            }
            seen
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let response = app
        .post(&cast.admin, &format!("/tokens/{}/revoke", token.id), &[])
        .await;
    let revoked = Instant::now();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);

    let (mut before, mut after) = (0, 0);
    for hammer in hammers {
        for (sent, status) in hammer.await.unwrap() {
            if sent > revoked {
                after += 1;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "a request sent after the revoke returned was accepted"
                );
            } else if status == StatusCode::OK {
                before += 1;
            }
        }
    }
    assert!(
        before > 0 && after > 0,
        "the hammering overlapped the revoke ({before} before, {after} after)"
    );
}

#[tokio::test]
async fn the_whitelist_allows_listed_networks_only_and_alerts_on_others() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let local = app
        .create_token(
            &cast.admin,
            &[
                ("name", "Local"),
                ("expires_in", "7d"),
                ("allowed_ips", "127.0.0.0/8"),
            ],
        )
        .await;
    let remote = app
        .create_token(
            &cast.admin,
            &[
                ("name", "Remote"),
                ("expires_in", "7d"),
                ("allowed_ips", "10.0.0.0/8\n2001:db8::/32"),
            ],
        )
        .await;
    assert_eq!(whoami(&app, &local).await.status(), StatusCode::OK);
    for _ in 0..3 {
        let response = whoami(&app, &remote).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.headers().get("www-authenticate").is_none());
    }
    // The spoofed header of an untrusted peer changes nothing.
    let spoofed = call(
        &app,
        "/api/v1/whoami",
        Some(&basic(&remote.username, &remote.password)),
        Some("10.1.2.3"),
    )
    .await;
    assert_eq!(spoofed.status(), StatusCode::FORBIDDEN);

    let alerts = "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'token.ip_denied' AND ip = '127.0.0.1'";
    eventually("the alert", || app.count(alerts) == 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        app.count(alerts),
        1,
        "one alert per token and address per minute"
    );
    assert!(app
        .get_html(&cast.admin, "/audit")
        .await
        .contains("token.ip_denied"));
}

#[tokio::test]
async fn a_whitelist_change_applies_to_the_very_next_request() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app
        .create_token(
            &cast.admin,
            &[
                ("name", "Moving"),
                ("expires_in", "7d"),
                ("allowed_ips", "127.0.0.1"),
            ],
        )
        .await;
    assert_eq!(whoami(&app, &token).await.status(), StatusCode::OK);
    let path = format!("/tokens/{}", token.id);
    let moved = app
        .post(
            &cast.admin,
            &path,
            &[("name", "Moving"), ("allowed_ips", "10.0.0.0/8")],
        )
        .await;
    assert_eq!(moved.status(), StatusCode::SEE_OTHER);
    assert_eq!(whoami(&app, &token).await.status(), StatusCode::FORBIDDEN);
    let back = app
        .post(
            &cast.admin,
            &path,
            &[("name", "Moving"), ("allowed_ips", "")],
        )
        .await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(whoami(&app, &token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn ipv6_clients_match_ipv6_rules() {
    let app = spawn_app_with(&[("SESAME_BIND", "[::1]:0")]).await;
    let cast = app.cast().await;
    let v6 = app
        .create_token(
            &cast.admin,
            &[("name", "v6"), ("expires_in", "7d"), ("allowed_ips", "::1")],
        )
        .await;
    let v4 = app
        .create_token(
            &cast.admin,
            &[
                ("name", "v4"),
                ("expires_in", "7d"),
                ("allowed_ips", "127.0.0.1"),
            ],
        )
        .await;
    assert_eq!(whoami(&app, &v6).await.status(), StatusCode::OK);
    assert_eq!(whoami(&app, &v4).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn ipv4_mapped_ipv6_peers_match_ipv4_rules() {
    // An IPv6 socket on the IPv4-mapped loopback: IPv4 clients arrive as ::ffff:127.0.0.1.
    let app = spawn_app_with(&[("SESAME_BIND", "[::ffff:127.0.0.1]:0")]).await;
    let cast = app.cast().await;
    let token = app
        .create_token(
            &cast.admin,
            &[
                ("name", "Mapped"),
                ("expires_in", "7d"),
                ("allowed_ips", "127.0.0.0/8"),
            ],
        )
        .await;
    assert_eq!(whoami(&app, &token).await.status(), StatusCode::OK);
    eventually("last use", || {
        app.count("SELECT COUNT(*) AS n FROM api_tokens WHERE last_used_ip = '127.0.0.1'") == 1
    })
    .await;
}

#[tokio::test]
async fn a_trusted_proxy_passes_on_the_right_most_untrusted_address() {
    let app = spawn_app_with(&[("SESAME_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")]).await;
    let cast = app.cast().await;
    let token = app
        .create_token(
            &cast.admin,
            &[
                ("name", "Office"),
                ("expires_in", "7d"),
                ("allowed_ips", "203.0.113.0/24"),
            ],
        )
        .await;
    let auth = basic(&token.username, &token.password);
    let status = |xff: Option<&'static str>| {
        let (app, auth) = (&app, auth.clone());
        async move { call(app, "/api/v1/whoami", Some(&auth), xff).await.status() }
    };
    assert_eq!(status(Some("203.0.113.9")).await, StatusCode::OK);
    assert_eq!(
        status(Some("198.51.100.1, 203.0.113.9, 10.0.0.7")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(Some("203.0.113.9, 198.51.100.1")).await,
        StatusCode::FORBIDDEN,
        "a client cannot prepend its way in"
    );
    assert_eq!(
        status(None).await,
        StatusCode::FORBIDDEN,
        "the proxy itself is not in the whitelist"
    );

    // Last use records the real client, behind the proxy.
    eventually("last use", || {
        app.count("SELECT COUNT(*) AS n FROM api_tokens WHERE last_used_ip = '203.0.113.9'") == 1
    })
    .await;
}

#[tokio::test]
async fn last_use_is_recorded_at_most_once_a_minute_and_shown() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Used").await;
    let last_used = |app: &TestApp| {
        app.text(&format!(
            "SELECT COALESCE(CAST(last_used_at AS TEXT), '') AS t FROM api_tokens WHERE id = '{}'",
            token.id
        ))
    };
    assert!(app.get_html(&cast.admin, "/tokens").await.contains("Never"));
    assert_eq!(whoami(&app, &token).await.status(), StatusCode::OK);
    eventually("the first use", || !last_used(&app).is_empty()).await;
    let first = last_used(&app);

    app.clock.advance(Duration::seconds(30));
    whoami(&app, &token).await;
    // Past the recorder's tick (uses are written once a second).
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(last_used(&app), first, "not rewritten within the minute");

    app.clock.advance(Duration::seconds(31));
    whoami(&app, &token).await;
    eventually("the next use", || last_used(&app) > first).await;

    let list = app.get_html(&cast.admin, "/tokens").await;
    assert!(list.contains("from 127.0.0.1"));
    let page = app
        .get_html(&cast.admin, &format!("/tokens/{}", token.id))
        .await;
    assert!(page.contains("from 127.0.0.1"));
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_throttled_without_hurting_others() {
    let app = spawn_app_with(&[("SESAME_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Popular").await;
    let good = basic(&token.username, &token.password);
    let bad = basic(&token.username, "guess-guess-guess-guess-guess-guess-gues");
    for attempt in 1..=30 {
        let response = call(&app, "/api/v1/whoami", Some(&bad), Some("198.51.100.66")).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let throttled = call(&app, "/api/v1/whoami", Some(&bad), Some("198.51.100.66")).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    // Even the right password is refused from a throttled address: no oracle.
    let right = call(&app, "/api/v1/whoami", Some(&good), Some("198.51.100.66")).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    // The holder of the token, elsewhere, is unaffected.
    let holder = call(&app, "/api/v1/whoami", Some(&good), Some("198.51.100.77")).await;
    assert_eq!(holder.status(), StatusCode::OK);
}
}
