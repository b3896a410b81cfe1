//! Leak reports (`POST /api/v1/leaks`, GitHub's secret-scanning partner protocol): a live
//! password revokes its token at once, the admins are told, and anything else changes
//! nothing.

use crate::helpers::*;
use crate::smtp::SmtpServer;
use base64::Engine;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sesame::domain::Role;
use sesame::tokens::password_format;
use std::time::{Duration, Instant};

const REPORTED_AT: &str = "https://github.com/acme/payroll/blob/main/.env";

async fn report_raw(app: &TestApp, body: Vec<u8>, headers: &[(&str, String)]) -> reqwest::Response {
    let mut request = Client::new()
        .post(app.url("/api/v1/leaks"))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

/// Reports these passwords as found at `REPORTED_AT`; the answer's labels, in order.
async fn report(app: &TestApp, passwords: &[&str]) -> Vec<String> {
    let response = report_raw(app, entries(passwords), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    labels(response, passwords).await
}

fn entries(passwords: &[&str]) -> Vec<u8> {
    let list: Vec<Value> = passwords
        .iter()
        .map(|p| json!({"token": p, "type": "sesame_token_password", "url": REPORTED_AT, "source": "content"}))
        .collect();
    serde_json::to_vec(&list).unwrap()
}

async fn labels(response: reqwest::Response, passwords: &[&str]) -> Vec<String> {
    assert_eq!(response.headers()["cache-control"], "no-store");
    let answer: Vec<Value> = response.json().await.unwrap();
    assert_eq!(answer.len(), passwords.len());
    answer
        .iter()
        .zip(passwords)
        .map(|(entry, password)| {
            assert_eq!(entry["token_raw"], *password);
            assert_eq!(entry["token_type"], "sesame_token_password");
            entry["label"].as_str().unwrap().to_string()
        })
        .collect()
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A password of the recognisable form that no token has.
fn stranger() -> String {
    sesame::tokens::secret::generate_password()
        .expose()
        .to_string()
}

crate::both_backends! {
#[tokio::test]
async fn a_leaked_live_password_revokes_its_token_at_once_and_every_admin_is_told() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(&[
        ("SESAME_SMTP_URL", &smtp.url()),
        ("SESAME_BASE_URL", "https://tokens.example.com"),
    ])
    .await;
    let cast = app.cast().await;
    app.add_user("Acme", "second-admin@acme.test", Role::Admin);
    let token = app.create_named(&cast.admin, "Payroll sync").await;
    // In use, and so in the check's cache: the report must empty it.
    assert_eq!(app.whoami(&token).await, StatusCode::OK);
    let used = format!("SELECT COUNT(*) AS n FROM api_tokens WHERE id = '{}' AND last_used_ip IS NOT NULL", token.id);
    eventually("the use recorded", || app.count(&used) == 1).await;
    for _ in 0..2 {
        app.tick().await;
    }
    let before = smtp.mails().len();

    assert_eq!(report(&app, &[&token.password]).await, ["true_positive"]);
    assert_eq!(app.whoami(&token).await, StatusCode::UNAUTHORIZED, "revoked at once");

    let reason = app.text(&format!("SELECT revoke_reason AS t FROM api_tokens WHERE id = '{}'", token.id));
    assert_eq!(reason, format!("reported leaked at {REPORTED_AT}"));
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM api_tokens WHERE id = '{}' AND revoked_by IS NULL", token.id)),
        1,
        "no person revoked it"
    );
    let audit = format!(
        "SELECT COUNT(*) AS n FROM audit_events WHERE token_id = '{}' AND action = 'token.revoke' \
         AND detail LIKE '%reported leaked at {REPORTED_AT}%' AND ip = '127.0.0.1'",
        token.id
    );
    assert_eq!(app.count(&audit), 1, "audited, with the reporter's address");
    let page = app.get_html(&cast.support, &format!("/tokens/{}", token.id)).await;
    assert!(page.contains(&format!("reported leaked at {REPORTED_AT}")), "the token page gives the reason, to support too");
    let audit_page = app.get_html(&cast.admin, "/audit").await;
    assert!(audit_page.contains("reported leaked at"), "in the audit log");

    app.tick().await;
    eventually("both admins' mail", || smtp.mails().len() >= before + 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(smtp.mails().len(), before + 2, "one per admin");
    for admin in ["admin@acme.test", "second-admin@acme.test"] {
        let mails = smtp.mails_to(admin);
        let mail = mails
            .iter()
            .find(|m| m.subject() == "API token revoked after a leak: Payroll sync")
            .unwrap_or_else(|| panic!("{admin} was told"));
        assert!(mail.data.contains(REPORTED_AT), "where it was found");
        assert!(mail.data.contains("Last used:") && mail.data.contains("127.0.0.1"), "when and from where it was last used");
        assert!(mail.data.contains(&format!("https://tokens.example.com/tokens/{}/renew", token.id)), "how to renew it");
        assert!(!mail.data.contains(&token.password), "never the password");
    }
    for nobody in ["support@acme.test", "member@acme.test", "admin@globex.test"] {
        assert!(
            smtp.mails_to(nobody).iter().all(|m| !m.subject().contains("leak")),
            "{nobody} was told"
        );
    }
    // The notice's renew link works: the same settings, new credentials.
    let renew = app.get_html(&cast.admin, &format!("/tokens/{}/renew", token.id)).await;
    assert!(renew.contains("Payroll sync"));
    let renewed = app
        .create_token(&cast.admin, &[("name", "Payroll sync"), ("expires_in", "30d"), ("renews", &token.id)])
        .await;
    assert!(password_format::is_valid(&renewed.password), "a renewal makes the recognisable form");
    assert_eq!(app.whoami(&renewed).await, StatusCode::OK);
    assert_eq!(app.whoami(&token).await, StatusCode::UNAUTHORIZED, "the leaked one stays revoked");
}

#[tokio::test]
async fn an_ended_token_is_a_true_positive_that_changes_nothing_and_the_rest_are_false() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let live = app.create_named(&cast.admin, "Live").await;
    let expiring = app
        .create_token(&cast.admin, &[("name", "Short"), ("expires_in", "7d")])
        .await;
    app.clock.advance(chrono::Duration::days(8));
    let snapshot = |app: &TestApp| {
        (
            app.count("SELECT COUNT(*) AS n FROM audit_events"),
            app.count("SELECT COUNT(*) AS n FROM outbox"),
            app.count("SELECT COUNT(*) AS n FROM api_tokens WHERE revoked_at IS NOT NULL"),
        )
    };
    let mut look_alike = live.password.clone();
    let last = look_alike.pop().unwrap();
    look_alike.push(if last == '0' { '1' } else { '0' });
    let old_format = "A".repeat(40);
    let unknown = stranger();

    let before = snapshot(&app);
    let labels = report(
        &app,
        &[&expiring.password, &look_alike, &unknown, &old_format, "hunter2", ""],
    )
    .await;
    assert_eq!(
        labels,
        ["true_positive", "false_positive", "false_positive", "false_positive", "false_positive", "false_positive"]
    );
    assert_eq!(snapshot(&app), before, "nothing changed");
    assert_eq!(app.whoami(&live).await, StatusCode::OK, "a look-alike of a live password revokes nothing");

    // The same live password twice in one report: revoked once, audited once.
    let labels = report(&app, &[&live.password, &live.password]).await;
    assert_eq!(labels, ["true_positive", "true_positive"]);
    let after = snapshot(&app);
    assert_eq!(after.2, before.2 + 1);
    assert_eq!(after.0, before.0 + 1, "one audit entry");
    // Reported again later: still a true positive, still nothing more.
    assert_eq!(report(&app, &[&live.password]).await, ["true_positive"]);
    assert_eq!(snapshot(&app), after);
}

#[tokio::test]
async fn an_old_format_password_still_works_and_can_be_reported() {
    use diesel::prelude::*;
    use sesame::db::schema::api_tokens;
    let app = spawn_app().await;
    let cast = app.cast().await;
    let mut token = app.create_named(&cast.admin, "From before").await;
    // What a token made before the recognisable form holds: 40 base62 characters.
    let old = "Zy8".repeat(13) + "Q";
    let key = sesame::keys::ServerKey::load_or_generate(&app.settings).unwrap();
    let crypto = sesame::tokens::secret::TokenCrypto::new(&key);
    diesel::update(api_tokens::table.find(&token.id))
        .set(api_tokens::secret_hmac.eq(crypto.hash(&old)))
        .execute(&mut *app.pool.get().unwrap())
        .unwrap();
    token.password = old.clone();
    assert!(!password_format::has_prefix(&old));
    assert_eq!(app.whoami(&token).await, StatusCode::OK, "an old password keeps working");
    assert_eq!(report(&app, &[&old]).await, ["true_positive"]);
    assert_eq!(app.whoami(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn malformed_oversized_and_overfull_reports_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Bystander").await;
    let expect = |status: StatusCode, body: Vec<u8>| {
        let app = &app;
        async move {
            let response = report_raw(app, body, &[]).await;
            assert_eq!(response.status(), status);
            let answer: Value = response.json().await.unwrap();
            assert!(answer["error"].is_string(), "{answer}");
        }
    };
    expect(StatusCode::BAD_REQUEST, b"not json".to_vec()).await;
    expect(StatusCode::BAD_REQUEST, b"[{\"token\":".to_vec()).await;
    expect(StatusCode::UNPROCESSABLE_ENTITY, b"{\"token\":\"x\"}".to_vec()).await;
    expect(StatusCode::UNPROCESSABLE_ENTITY, b"[{\"type\":\"x\"}]".to_vec()).await;
    expect(StatusCode::UNPROCESSABLE_ENTITY, b"[{\"token\":7}]".to_vec()).await;
    // 1,001 entries, the live password among them: refused whole.
    let mut many: Vec<String> = (0..1000).map(|_| stranger()).collect();
    many.push(token.password.clone());
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    expect(StatusCode::UNPROCESSABLE_ENTITY, entries(&refs)).await;
    // Over 1 MiB, again with the live password first.
    let mut big = entries(&[&token.password]);
    big.pop();
    big.extend_from_slice(format!(",{{\"token\":\"{}\"}}]", "x".repeat(1024 * 1024)).as_bytes());
    expect(StatusCode::PAYLOAD_TOO_LARGE, big).await;
    // Exactly 1,000 entries is fine.
    let refs: Vec<&str> = many[..1000].iter().map(String::as_str).collect();
    let response = report_raw(&app, entries(&refs), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.whoami(&token).await, StatusCode::OK, "no refused report revoked anything");
    let get = Client::new().get(app.url("/api/v1/leaks")).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get.headers()["allow"], "POST");
}
}

#[tokio::test]
async fn reports_are_throttled_per_client_address_after_sixty_a_minute() {
    let app = spawn_app().await;
    for n in 1..=60 {
        let response = report_raw(&app, b"[]".to_vec(), &[]).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "report {n} of the first 60"
        );
    }
    let mut refused = None;
    for n in 61..=80 {
        let response = report_raw(&app, b"[]".to_vec(), &[]).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            refused = Some(n);
            break;
        }
    }
    assert!(refused.is_some(), "throttled within 20 more reports");
}

/// A key file in GitHub's format with one key made here, and that key.
fn signing_key(dir: &std::path::Path) -> (std::path::PathBuf, p256::ecdsa::SigningKey) {
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let path = dir.join("github-keys.json");
    let file = json!({"public_keys": [
        {"key_identifier": "retired", "key": pem, "is_current": false},
        {"key_identifier": "github-1", "key": pem, "is_current": true}
    ]});
    std::fs::write(&path, file.to_string()).unwrap();
    (path, key)
}

fn signature(key: &p256::ecdsa::SigningKey, body: &[u8]) -> String {
    use p256::ecdsa::signature::Signer;
    let signature: p256::ecdsa::Signature = key.sign(body);
    base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
}

#[tokio::test]
async fn with_keys_set_only_a_valid_signature_is_heard() {
    let keys_dir = tempfile::tempdir().unwrap();
    let (keys, key) = signing_key(keys_dir.path());
    let app = spawn_app_with(&[("SESAME_LEAK_REPORT_KEYS_FILE", keys.to_str().unwrap())]).await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Signed for").await;
    let body = entries(&[&token.password]);
    let other = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let id = |v: &str| ("Github-Public-Key-Identifier", v.to_string());
    let sig = |v: String| ("Github-Public-Key-Signature", v);
    let refused: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![id("github-1")],
        vec![sig(signature(&key, &body))],
        vec![id("unknown"), sig(signature(&key, &body))],
        vec![id("github-1"), sig(signature(&other, &body))],
        vec![id("github-1"), sig(signature(&key, b"[]"))],
        vec![id("github-1"), sig("not base64!".into())],
    ];
    for headers in &refused {
        let response = report_raw(&app, body.clone(), headers).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(
            app.whoami(&token).await,
            StatusCode::OK,
            "changed nothing: {headers:?}"
        );
    }
    let response = report_raw(
        &app,
        body.clone(),
        &[id("github-1"), sig(signature(&key, &body))],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        labels(response, &[&token.password]).await,
        ["true_positive"]
    );
    assert_eq!(app.whoami(&token).await, StatusCode::UNAUTHORIZED);
}

#[test]
fn a_keys_file_that_cannot_be_used_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    std::fs::write(&path, r#"{"public_keys":[]}"#).unwrap();
    let data = dir.path().join("data");
    let settings = sesame::config::Settings::from_lookup(|name| match name {
        "SESAME_DATA_DIR" => Some(data.to_string_lossy().into_owned()),
        "SESAME_BIND" => Some("127.0.0.1:0".into()),
        "SESAME_LEAK_REPORT_KEYS_FILE" => Some(path.to_string_lossy().into_owned()),
        _ => None,
    })
    .unwrap();
    let built = sesame::startup::Application::build(
        settings,
        std::sync::Arc::new(sesame::clock::TestClock::default()),
    );
    let error = format!("{:#}", built.err().expect("no server without usable keys"));
    assert!(error.contains("SESAME_LEAK_REPORT_KEYS_FILE"), "{error}");
}
