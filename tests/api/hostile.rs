//! A corpus of hostile values posted into every field of every form: never a 5xx, never a
//! panic, and a refused request leaves the database as it was.

use crate::helpers::*;

fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let many_networks: String = (0..1000)
        .map(|i| format!("10.{}.{}.0/24\n", i / 250, i % 250))
        .collect();
    vec![
        ("empty", b"".to_vec()),
        ("1 MiB", vec![b'a'; 1024 * 1024]),
        ("NUL", b"a\0b".to_vec()),
        ("invalid UTF-8", vec![0xff, 0xfe, 0xfd]),
        (
            "SQL injection",
            b"' OR 1=1; DROP TABLE api_tokens; --".to_vec(),
        ),
        ("template injection", b"{{ 7*7 }}{% raw %}${7*7}".to_vec()),
        ("right-to-left mark", "\u{202e}gnp.exe".as_bytes().to_vec()),
        ("1000 networks", many_networks.into_bytes()),
        ("negative", b"-1".to_vec()),
        ("huge number", b"999999999999999999999999999999".to_vec()),
        ("markup", b"<script>alert(1)</script>".to_vec()),
    ]
}

/// An urlencoded body with `field` set to `value` and the other fields to valid values.
fn body(csrf: &str, fields: &[(&str, &str)], field: &str, value: &[u8]) -> Vec<u8> {
    let mut out = format!("csrf_token={csrf}").into_bytes();
    for (name, default) in fields {
        out.extend_from_slice(format!("&{name}=").as_bytes());
        let raw: &[u8] = if *name == field {
            value
        } else {
            default.as_bytes()
        };
        out.extend(url::form_urlencoded::byte_serialize(raw).flat_map(|s| s.bytes()));
    }
    out
}

crate::both_backends! {
#[tokio::test]
async fn hostile_values_in_every_field_never_break_anything() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Target").await;
    let users = app.get_html(&cast.admin, "/users").await;
    let at = users.find("data-label=\"E-mail\">member@acme.test").unwrap();
    let member = between(&users[at..], "action=\"/users/", "/").unwrap();
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/tokens".into(), vec![("name", "Hostile"), ("expires_in", "7d"), ("expires_on", ""), ("description", "d"), ("allowed_ips", "")]),
        (format!("/tokens/{}", token.id), vec![("name", "Target"), ("description", ""), ("allowed_ips", "")]),
        (format!("/tokens/{}/handoff", token.id), vec![("email", "")]),
        (format!("/tokens/{}/credentials", token.id), vec![("sudo_password", "")]),
        (format!("/users/{member}/role"), vec![("role", "member")]),
        ("/users".into(), vec![("email", "new@acme.test"), ("role", "member")]),
        ("/notifications/x/retry".into(), vec![]),
        (format!("/tokens/{}/revoke", token.id), vec![("reason", "")]),
    ];
    let csrf = app.csrf(&cast.admin).await;
    let mut failures = Vec::new();
    for (path, fields) in &forms {
        for (field, _) in fields {
            for (label, value) in corpus() {
                let before = app.snapshot();
                let response = cast
                    .admin
                    .client
                    .post(app.url(path))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body(&csrf, fields, field, &value))
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                if status.is_server_error() {
                    failures.push(format!("{path} {field}={label}: {status}"));
                }
                if status.is_client_error() && app.snapshot() != before {
                    failures.push(format!("{path} {field}={label}: {status} but the database changed"));
                }
                if path.ends_with("/revoke") && status.is_redirection() {
                    break; // the target is revoked now; the rest would all be 409s
                }
            }
        }
    }
    // Unsigned-in forms too.
    for (path, fields) in [("/login", vec![("email", "admin@acme.test"), ("password", "x")]), ("/forgot", vec![("email", "a@b.c")])] {
        let page = client();
        let html = page.get(app.url(path)).send().await.unwrap().text().await.unwrap();
        let csrf = csrf_in(&html);
        for (field, _) in &fields {
            for (label, value) in corpus() {
                let status = page.post(app.url(path)).header("content-type", "application/x-www-form-urlencoded").body(body(&csrf, &fields, field, &value)).send().await.unwrap().status();
                if status.is_server_error() {
                    failures.push(format!("{path} {field}={label}: {status}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn hostile_values_in_the_setup_and_password_forms_never_break_anything() {
    // First-run setup, before any user exists.
    let fresh = spawn_app().await;
    let code = fresh.setup_code.clone().unwrap();
    let setup_fields = [
        ("setup_code", code.as_str()),
        ("account_name", "Acme"),
        ("email", "admin@acme.test"),
        ("password", "short"),
        ("password_confirm", "short"),
    ];
    let browser = client();
    let html = browser.get(fresh.url("/setup")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_in(&html);
    let mut failures = Vec::new();
    for (field, _) in &setup_fields {
        for (label, value) in corpus() {
            let response = browser
                .post(fresh.url("/setup"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body(&csrf, &setup_fields, field, &value))
                .send()
                .await
                .unwrap();
            if response.status().is_server_error() {
                failures.push(format!("/setup {field}={label}: {}", response.status()));
            }
        }
    }
    assert_eq!(fresh.count("SELECT COUNT(*) AS n FROM users"), 0, "every hostile setup was refused");

    // Choosing a password through an invitation link.
    let smtp = crate::smtp::SmtpServer::start();
    let app = spawn_app_with(&[("SESAME_SMTP_URL", &smtp.url())]).await;
    let cast = app.cast().await;
    app.post(&cast.admin, "/users", &[("email", "new@acme.test"), ("role", "member")]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mail = loop {
        if let Some(mail) = smtp.mails_to("new@acme.test").pop() {
            break mail;
        }
        assert!(std::time::Instant::now() < deadline, "no invitation");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let at = mail.data.find("/invite/").unwrap();
    let link: String = mail.data[at..].chars().take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<').collect();
    let html = browser.get(app.url(&link)).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_in(&html);
    let password_fields = [("password", "violet tractor summit ocean"), ("password_confirm", "something else entirely")];
    for (field, _) in &password_fields {
        for (label, value) in corpus() {
            let response = browser
                .post(app.url(&link))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body(&csrf, &password_fields, field, &value))
                .send()
                .await
                .unwrap();
            if response.status().is_server_error() {
                failures.push(format!("{link} {field}={label}: {}", response.status()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM user_links WHERE used_at IS NOT NULL"), 0);
}

#[tokio::test]
async fn the_audit_log_exports_as_csv_and_cannot_be_changed() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    app.create_named(&cast.admin, "=HYPERLINK(\"http://evil\")").await;
    let export = app.get(&cast.admin, "/audit.csv").await;
    assert_eq!(export.status(), reqwest::StatusCode::OK);
    let csv = export.text().await.unwrap();
    assert!(csv.starts_with("time,actor,action,token_id,token_name,detail,address"));
    assert!(csv.contains("token.create") && csv.contains("user.signin"));
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert_eq!(app.get(&cast.support, "/audit.csv").await.status(), reqwest::StatusCode::FORBIDDEN);
    let before = app.count("SELECT COUNT(*) AS n FROM audit_events");
    for method in [reqwest::Method::POST, reqwest::Method::PUT, reqwest::Method::DELETE] {
        let response = cast.admin.client.request(method, app.url("/audit")).send().await.unwrap();
        assert!(response.status().is_client_error());
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM audit_events"), before);
}
#[tokio::test]
async fn malformed_ids_in_paths_are_not_found() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    for path in ["/users/a%00b/role", "/users/a%00b/disable", "/users/a%00b/enable", "/notifications/a%00b/retry", "/tokens/a%00b/revoke"] {
        let status = app.post(&cast.admin, path, &[("role", "member"), ("sudo_password", PASSWORD)]).await.status();
        assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(app.get(&cast.admin, "/tokens/a%00b").await.status(), reqwest::StatusCode::NOT_FOUND);
}
}
