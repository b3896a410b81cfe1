//! The README's nginx configuration, run for real (Debian's nginx, on loopback) in front
//! of the server: what a client puts in `X-Forwarded-For` or `X-Sesame-*` changes nothing.

use crate::helpers::*;
use base64::Engine;
use reqwest::StatusCode;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NGINX: &str = "/usr/sbin/nginx";

struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx, or a loud skip on a developer's machine without it (CI installs it and fails).
fn nginx_available() -> bool {
    if std::path::Path::new(NGINX).exists() {
        return true;
    }
    let ci = crate::helpers::in_ci();
    assert!(!ci, "nginx is required here: apt-get install nginx-light");
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED the reverse-proxy test: no {NGINX} (apt-get install nginx-light) ***\n"
    );
    false
}

/// The README's configuration (the server block named `sesame`), with loopback ports, and
/// a stand-in for the protected service that echoes the token id it was given.
fn start_nginx(app_port: u16, port: u16, backend_port: u16) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let config = format!(
        r#"daemon off; master_process off; worker_processes 1;
pid {d}/nginx.pid; error_log {d}/error.log;
events {{}}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  upstream sesame {{ server 127.0.0.1:{app_port}; }}
  upstream protected_service {{ server 127.0.0.1:{backend_port}; }}
  server {{
    listen 127.0.0.1:{port};
{readme}
  }}
  server {{
    listen 127.0.0.1:{backend_port};
    location / {{ return 200 "token=$http_x_sesame_token_id account=$http_x_sesame_account_id"; }}
  }}
}}
"#,
        readme = README_LOCATIONS
    );
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(NGINX)
        .args([
            "-c",
            &path.to_string_lossy(),
            "-p",
            &d.to_string(),
            "-e",
            &format!("{d}/error.log"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { child, _dir: dir }
}

/// The locations README.md gives for nginx, verbatim (README: "Behind nginx").
const README_LOCATIONS: &str = r#"
    # The API, proxied: the client's address replaces whatever X-Forwarded-For it sent.
    location /api/ {
      proxy_pass http://sesame;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header Host $host;
    }
    # A service protected by the token check (auth_request).
    location /data/ {
      auth_request /_sesame_auth;
      auth_request_set $sesame_token_id $upstream_http_x_sesame_token_id;
      auth_request_set $sesame_account_id $upstream_http_x_sesame_account_id;
      # Set from the check's answer only: a client's own X-Sesame-* never passes.
      proxy_set_header X-Sesame-Token-Id $sesame_token_id;
      proxy_set_header X-Sesame-Account-Id $sesame_account_id;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_pass http://protected_service;
    }
    location = /_sesame_auth {
      internal;
      proxy_pass http://sesame/api/v1/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Sesame-Token-Id "";
      proxy_set_header X-Sesame-Account-Id "";
    }
"#;

#[tokio::test]
async fn behind_the_readme_nginx_a_spoofed_header_changes_nothing() {
    if !nginx_available() {
        return;
    }
    let app = spawn_app_with(&[("SESAME_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let cast = app.cast().await;
    // Allowed only from 10.0.0.0/8; every real client here is 127.0.0.1.
    let fenced = app
        .create_token(
            &cast.admin,
            &[
                ("name", "Fenced"),
                ("expires_in", "30d"),
                ("allowed_ips", "10.0.0.0/8"),
            ],
        )
        .await;
    let open = app.create_named(&cast.admin, "Open").await;
    let auth = |token: &Created| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", token.username, token.password))
        )
    };
    let app_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let (port, backend_port) = (free_port(), free_port());
    let _nginx = start_nginx(app_port, port, backend_port);
    let via_nginx = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let client = client();

    // Were the header passed on unchanged, the spoof would work (the server trusts its proxy).
    let direct = client
        .get(app.url("/api/v1/whoami"))
        .header("authorization", auth(&fenced))
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        direct.status(),
        StatusCode::OK,
        "the control: a trusted hop's header is believed"
    );

    // Through nginx it is overwritten: the client is 127.0.0.1, outside the whitelist.
    for path in ["/api/v1/whoami", "/data/report"] {
        let spoofed = client
            .get(via_nginx(path))
            .header("authorization", auth(&fenced))
            .header("x-forwarded-for", "10.1.2.3")
            .send()
            .await
            .unwrap();
        assert_eq!(spoofed.status(), StatusCode::FORBIDDEN, "{path}");
    }

    // The protected service sees the token the check named, never one the client sent.
    let forged = client
        .get(via_nginx("/data/report"))
        .header("authorization", auth(&open))
        .header("x-sesame-token-id", "forged")
        .header("x-sesame-account-id", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::OK);
    let seen = forged.text().await.unwrap();
    assert!(
        seen.starts_with(&format!("token={} account=", open.id)),
        "{seen}"
    );
    assert!(!seen.contains("forged"), "{seen}");
    let anonymous = client
        .get(via_nginx("/data/report"))
        .header("x-sesame-token-id", open.id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
