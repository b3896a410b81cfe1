//! The real `sesame` binary: first run from the log's setup code, the command line, and a
//! scan of everything it wrote for any issued token password.

use crate::helpers::*;
use reqwest::StatusCode;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_sesame");

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) address: String,
    pub(crate) log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn sesame(data_dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    // Run from a folder without the project's `static/` or `templates/`: the binary is the
    // whole deployment.
    let folder = data_dir.parent().expect("a data directory inside a folder");
    std::fs::create_dir_all(folder).unwrap();
    command
        .current_dir(folder)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SESAME_DATA_DIR", data_dir)
        .env("SESAME_LOG", "debug");
    command
}

async fn start(data_dir: &Path) -> Server {
    start_with(data_dir, &[]).await
}

pub(crate) async fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let log = data_dir.with_extension("log");
    let child = sesame(data_dir)
        .envs(env.iter().copied())
        .env("SESAME_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
        ))
        .spawn()
        .expect("the sesame binary starts");
    let server = Server {
        child,
        address: format!("http://127.0.0.1:{port}"),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client()
            .get(format!("{}/healthz", server.address))
            .send()
            .await
        {
            if response.status() == StatusCode::OK {
                return server;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the server did not answer: {}",
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What `GET /api/v1/whoami` on `server` answers these credentials.
async fn whoami_on(server: &Server, username: &str, password: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/api/v1/whoami", server.address))
        .basic_auth(username, Some(password))
        .send()
        .await
        .unwrap()
        .status()
}

/// A browser signed in to `server` as admin@acme.test.
async fn sign_in_on(server: &Server) -> reqwest::Client {
    let base = &server.address;
    let browser = client();
    submit(
        &browser,
        &format!("{base}/login"),
        &format!("{base}/login"),
        &[("email", "admin@acme.test"), ("password", PASSWORD)],
    )
    .await;
    browser
}

/// Signs in as admin@acme.test and creates a token: its id, username and password.
async fn create_token_on(server: &Server, name: &str) -> (String, String, String) {
    let base = &server.address;
    let browser = sign_in_on(server).await;
    let html = submit(
        &browser,
        &format!("{base}/tokens/new"),
        &format!("{base}/tokens"),
        &[("name", name), ("expires_in", "30d")],
    )
    .await
    .text()
    .await
    .unwrap();
    (
        token_id_in(&html),
        element_text(&html, "token-username").unwrap(),
        element_text(&html, "token-password").unwrap(),
    )
}

/// `sesame user add` in account Acme, with the password on stdin.
fn user_add(data_dir: &Path, email: &str, role: &str, password: &str) -> std::process::Output {
    user_add_with(data_dir, &[], email, role, password)
}

pub(crate) fn user_add_with(
    data_dir: &Path,
    env: &[(&str, &str)],
    email: &str,
    role: &str,
    password: &str,
) -> std::process::Output {
    let mut child = sesame(data_dir)
        .envs(env.iter().copied())
        .args([
            "user",
            "add",
            "--account",
            "Acme",
            "--email",
            email,
            "--role",
            role,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn assert_nowhere(passwords: &[String], places: &[std::path::PathBuf]) {
    for place in places {
        let bytes = std::fs::read(place).unwrap();
        for password in passwords {
            assert!(
                !bytes
                    .windows(password.len())
                    .any(|w| w == password.as_bytes()),
                "a token password was found in {}",
                place.display()
            );
        }
    }
}

#[tokio::test]
async fn the_real_binary_sets_up_from_its_log_and_never_writes_a_token_password_anywhere() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let server = start(&data_dir).await;
    let url = |path: &str| format!("{}{}", server.address, path);

    let log = std::fs::read_to_string(&server.log).unwrap();
    let code = between(&log, "enter the setup code ", "\n").expect("the log prints the setup code");
    let browser = client();
    let setup = submit(
        &browser,
        &url("/setup"),
        &url("/setup"),
        &[
            ("setup_code", code.trim()),
            ("account_name", "Acme"),
            ("email", "admin@acme.test"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert_eq!(setup.status(), StatusCode::SEE_OTHER);

    let mut passwords = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        let response = submit(
            &browser,
            &url("/tokens/new"),
            &url("/tokens"),
            &[
                ("name", name),
                ("expires_in", "30d"),
                ("allowed_ips", "127.0.0.1"),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        let id = token_id_in(&html);
        passwords.push(element_text(&html, "token-password").unwrap());
        let again = submit(
            &browser,
            &url(&format!("/tokens/{id}")),
            &url(&format!("/tokens/{id}/credentials")),
            &[],
        )
        .await
        .text()
        .await
        .unwrap();
        assert_eq!(
            element_text(&again, "token-password").as_ref(),
            passwords.last()
        );
        if name == "gamma" {
            let revoked = submit(
                &browser,
                &url(&format!("/tokens/{id}")),
                &url(&format!("/tokens/{id}/revoke")),
                &[],
            )
            .await;
            assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
        }
    }

    // `sesame user add` beside the running server, with the password on stdin.
    let output = user_add(&data_dir, "support@acme.test", "support", PASSWORD);
    assert!(output.status.success(), "user add failed");
    assert!(String::from_utf8_lossy(&output.stdout).contains("support@acme.test"));
    let support = client();
    let signed_in = submit(
        &support,
        &url("/login"),
        &url("/login"),
        &[("email", "support@acme.test"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        support.get(url("/tokens")).send().await.unwrap().status(),
        StatusCode::OK
    );

    // A second server on the same SQLite database is refused.
    let second = sesame(&data_dir)
        .env("SESAME_BIND", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already using"));

    // While running (WAL not yet checkpointed) and after the server stops.
    let mut places = files(&data_dir);
    places.push(server.log.clone());
    assert_nowhere(&passwords, &places);
    let log_path = server.log.clone();
    drop(server);
    let mut places = files(&data_dir);
    places.push(log_path);
    assert_nowhere(&passwords, &places);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data_dir.join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }
}

#[test]
fn user_add_refuses_a_short_password_and_a_duplicate_address() {
    let root = tempfile::tempdir().unwrap();
    let run = |email: &str, password: &str| user_add(root.path(), email, "admin", password);
    let short = run("a@acme.test", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12"));
    assert!(run("a@acme.test", PASSWORD).status.success());
    let duplicate = run("A@acme.test", PASSWORD);
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));
}

#[test]
fn bad_configuration_stops_the_server_naming_the_variable() {
    let root = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("SESAME_BIND", "not-an-address"),
        ("SESAME_DATABASE_URL", "mysql://db"),
        ("SESAME_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("SESAME_SMTP_URL", "smtp://"),
        ("SESAME_SMTP_URL", "smtp://mail.example.com:notaport"),
        ("SESAME_MAIL_FROM", "not an address"),
    ] {
        let output = sesame(root.path()).env(var, value).output().unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(var), "{var}={value}: {stderr}");
    }
}

#[test]
fn migrate_applies_the_schema_and_exits() {
    let root = tempfile::tempdir().unwrap();
    let output = sesame(root.path()).arg("migrate").output().unwrap();
    assert!(output.status.success());
    assert!(root.path().join("sesame.db").exists());
}

/// `sesame COMMAND --once`'s output; it must succeed.
fn once(data_dir: &Path, command: &str) -> String {
    let output = sesame(data_dir).args([command, "--once"]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn notify_once_queues_due_reminders_and_delivers_them_once_for_cron() {
    let root = tempfile::tempdir().unwrap();
    assert!(user_add(root.path(), "admin@acme.test", "admin", PASSWORD)
        .status
        .success());
    let seeded = sesame(root.path())
        .args(["seed", "--account", "Acme", "--tokens", "1000"])
        .output()
        .unwrap();
    assert!(seeded.status.success());
    let run = || once(root.path(), "notify");
    // 10 % of seeded tokens expire within 7 days: some surely within the 48-hour window.
    let first = run();
    let queued: usize = between(&first, "reminders queued: ", ",")
        .unwrap()
        .parse()
        .unwrap();
    assert!(queued > 0, "{first}");
    assert!(first.contains(&format!("sent: {queued},")), "{first}");
    let mails = std::fs::read_dir(root.path().join("mail")).unwrap().count();
    assert_eq!(mails, queued);
    let second = run();
    assert!(
        second.starts_with("reminders queued: 0, sent: 0,"),
        "{second}"
    );
}

#[test]
fn digest_once_sends_every_account_its_weekly_report_at_each_run() {
    let root = tempfile::tempdir().unwrap();
    assert!(user_add(root.path(), "admin@acme.test", "admin", PASSWORD)
        .status
        .success());
    let run = || once(root.path(), "digest");
    assert!(run().starts_with("weekly reports queued: 1, sent: 1,"));
    assert!(run().starts_with("weekly reports queued: 1, sent: 1,"));
    let mails = files(&root.path().join("mail"));
    assert_eq!(mails.len(), 2);
    for mail in mails {
        let text = std::fs::read_to_string(mail).unwrap();
        assert!(
            text.contains("Subject: Weekly token report: Acme"),
            "{text}"
        );
        assert!(text.contains("To: admin@acme.test"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_on_postgres_share_sessions_revocations_and_the_outbox() {
    if !crate::helpers::postgres_available() {
        return;
    }
    let database = crate::helpers::PgDatabase::create();
    let smtp = crate::smtp::SmtpServer::start();
    let smtp_url = smtp.url();
    let key = "a-shared-server-key-for-every-process-0123456789";
    let env = [
        ("SESAME_DATABASE_URL", database.url.as_str()),
        ("SESAME_SECRET_KEY", key),
        ("SESAME_SMTP_URL", smtp_url.as_str()),
        ("SESAME_NOTIFY_INTERVAL_SECS", "1"),
    ];
    let root = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    assert!(
        user_add_with(&dir_a, &env, "admin@acme.test", "admin", PASSWORD)
            .status
            .success()
    );
    let a = start_with(&dir_a, &env).await;
    let b = start_with(&dir_b, &env).await;

    // A session cookie from A works on B (cookies ignore ports: one browser, both servers).
    let browser = client();
    let signed_in = submit(
        &browser,
        &format!("{}/login", a.address),
        &format!("{}/login", a.address),
        &[("email", "admin@acme.test"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        browser
            .get(format!("{}/dashboard", b.address))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // A second browser signs in on B. Ended through A, it is refused by B at its next
    // request (no process caches sessions), and the first browser stays signed in.
    let phone = client();
    let phone_in = submit(
        &phone,
        &format!("{}/login", b.address),
        &format!("{}/login", b.address),
        &[("email", "admin@acme.test"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(phone_in.status(), StatusCode::SEE_OTHER);
    let status_of = |browser: &reqwest::Client, server: &Server| {
        browser.get(format!("{}/dashboard", server.address)).send()
    };
    assert_eq!(
        status_of(&phone, &b).await.unwrap().status(),
        StatusCode::OK
    );
    let sessions = browser
        .get(format!("{}/sessions", a.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let other = sessions
        .split("<tr id=\"session-")
        .skip(1)
        .find(|row| !row.split("</tr>").next().unwrap().contains("This browser"))
        .and_then(|row| row.split('"').next())
        .expect("the phone's session")
        .to_string();
    let ended = submit(
        &browser,
        &format!("{}/sessions", a.address),
        &format!("{}/sessions/{other}/end", a.address),
        &[],
    )
    .await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    for server in [&b, &a] {
        let refused = status_of(&phone, server).await.unwrap();
        assert_eq!(refused.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&refused), sign_in_for("/dashboard"));
        assert_eq!(
            status_of(&browser, server).await.unwrap().status(),
            StatusCode::OK
        );
    }

    // A token made on A works on B; revoked through B, it is refused by A at once.
    let create = |server: &Server, name: &str| {
        let (page, action) = (
            format!("{}/tokens/new", server.address),
            format!("{}/tokens", server.address),
        );
        let (browser, name) = (browser.clone(), name.to_string());
        async move {
            let response = submit(
                &browser,
                &page,
                &action,
                &[("name", &name), ("expires_in", "30d")],
            )
            .await;
            assert_eq!(response.status(), StatusCode::OK);
            let html = response.text().await.unwrap();
            (
                token_id_in(&html),
                element_text(&html, "token-username").unwrap(),
                element_text(&html, "token-password").unwrap(),
            )
        }
    };
    let (id, username, password) = create(&a, "shared").await;
    assert_eq!(whoami_on(&b, &username, &password).await, StatusCode::OK);
    assert_eq!(whoami_on(&a, &username, &password).await, StatusCode::OK);
    let revoked = submit(
        &browser,
        &format!("{}/tokens/{id}", b.address),
        &format!("{}/tokens/{id}/revoke", b.address),
        &[],
    )
    .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        whoami_on(&a, &username, &password).await,
        StatusCode::UNAUTHORIZED
    );

    // Both schedulers tick every second over one outbox: each notice goes out once (the
    // first sign-in's new-device e-mail, and one per token).
    for i in 0..8 {
        create(if i % 2 == 0 { &a } else { &b }, &format!("batch {i}")).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while smtp.mails().len() < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} mails arrived",
            smtp.mails().len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut subjects: Vec<String> = smtp
        .mails()
        .iter()
        .map(|m| m.subject().to_string())
        .collect();
    assert_eq!(subjects.len(), 10, "{subjects:?}");
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 10, "a notice was sent twice");
    drop((a, b));
    drop(database);
}

#[tokio::test]
async fn a_session_survives_a_restart_and_the_operator_can_end_every_session() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    assert!(user_add(&data_dir, "admin@acme.test", "admin", PASSWORD)
        .status
        .success());
    let server = start_with(&data_dir, &[]).await;
    let browser = client();
    let signed_in = submit(
        &browser,
        &format!("{}/login", server.address),
        &format!("{}/login", server.address),
        &[("email", "admin@acme.test"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    drop(server); // killed, not stopped: nothing is flushed on the way out
    let restarted = start_with(&data_dir, &[]).await;
    let dashboard = || {
        browser
            .get(format!("{}/dashboard", restarted.address))
            .send()
    };
    assert_eq!(dashboard().await.unwrap().status(), StatusCode::OK);

    // The operator ends every session at once, beside the running server.
    let ended = sesame(&data_dir)
        .args(["sessions", "end-all"])
        .output()
        .unwrap();
    assert!(ended.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ended.stdout),
        "sessions ended: 1\n"
    );
    let refused = dashboard().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&refused), sign_in_for("/dashboard"));
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly_and_logs_can_be_json() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let mut server = start_with(&data_dir, &[("SESAME_LOG_FORMAT", "json")]).await;
    let log = std::fs::read_to_string(&server.log).unwrap();
    let first = log.lines().next().unwrap();
    let parsed: serde_json::Value = serde_json::from_str(first).expect("a JSON log line");
    assert!(
        parsed.get("level").is_some() && parsed.get("fields").is_some(),
        "{first}"
    );

    let term = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(std::fs::read_to_string(&server.log)
        .unwrap()
        .contains("\"stopped\""));
}

#[test]
fn backup_writes_a_consistent_copy_of_the_sqlite_database() {
    use diesel::{Connection, RunQueryDsl};
    let root = tempfile::tempdir().unwrap();
    let seeded = sesame(root.path())
        .args(["seed", "--account", "Acme", "--tokens", "50"])
        .output()
        .unwrap();
    assert!(seeded.status.success());
    let copy = root.path().join("copy.db");
    let backup = sesame(root.path())
        .args(["backup", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = diesel::SqliteConnection::establish(copy.to_str().unwrap()).unwrap();
    let count: Count = diesel::sql_query("SELECT COUNT(*) AS n FROM api_tokens")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(count.n, 50);

    let again = sesame(root.path())
        .args(["backup", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success(), "never overwrites");
    let postgres = sesame(root.path())
        .env(
            "SESAME_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        )
        .args(["backup", root.path().join("pg.db").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!postgres.status.success());
    assert!(String::from_utf8_lossy(&postgres.stderr).contains("pg_dump"));
}

#[tokio::test]
async fn rotate_key_rekeys_every_secret_and_tokens_keep_working() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    assert!(user_add(&data_dir, "admin@acme.test", "admin", PASSWORD)
        .status
        .success());
    let server = start(&data_dir).await;
    let (id, username, password) = create_token_on(&server, "Long-lived").await;
    assert_eq!(
        whoami_on(&server, &username, &password).await,
        StatusCode::OK
    );
    drop(server);
    let key_before = std::fs::read_to_string(data_dir.join("secret.key")).unwrap();

    let rotated = sesame(&data_dir).arg("rotate-key").output().unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(String::from_utf8_lossy(&rotated.stdout).contains("re-encrypted 1 token secrets"));
    assert_ne!(
        std::fs::read_to_string(data_dir.join("secret.key")).unwrap(),
        key_before
    );
    assert_eq!(
        std::fs::read_to_string(data_dir.join("secret.key.previous")).unwrap(),
        key_before
    );
    // Run again before the old key is deleted, it finishes the same rotation (idempotent).
    let again = sesame(&data_dir).arg("rotate-key").output().unwrap();
    assert!(again.status.success());
    assert_eq!(
        std::fs::read_to_string(data_dir.join("secret.key.previous")).unwrap(),
        key_before
    );

    // After the restart, and again without the old key at all: same credentials.
    for without_old_key in [false, true] {
        if without_old_key {
            std::fs::remove_file(data_dir.join("secret.key.previous")).unwrap();
        }
        let server = start(&data_dir).await;
        assert_eq!(
            whoami_on(&server, &username, &password).await,
            StatusCode::OK
        );
        // Never while a server runs: it would go on with the old key.
        let refused = sesame(&data_dir).arg("rotate-key").output().unwrap();
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("stop the server first"));
        let browser = sign_in_on(&server).await;
        let base = &server.address;
        let again = submit(
            &browser,
            &format!("{base}/tokens/{id}"),
            &format!("{base}/tokens/{id}/credentials"),
            &[],
        )
        .await;
        assert_eq!(
            element_text(&again.text().await.unwrap(), "token-password").unwrap(),
            password
        );
        drop(server);
    }
}

#[tokio::test]
async fn static_files_come_from_the_binary_under_hashed_names_cached_for_a_year() {
    let root = tempfile::tempdir().unwrap();
    let server = start(&root.path().join("data")).await;
    // First run: /setup is the page there is.
    let page = client()
        .get(format!("{}/setup", server.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (attribute, kind, content_type) in [
        ("href", "css", "text/css"),
        ("src", "js", "text/javascript"),
    ] {
        let marker = format!("{attribute}=\"/static/app-");
        let start = page
            .find(&marker)
            .unwrap_or_else(|| panic!("no {kind} in the page"))
            + attribute.len()
            + 2;
        let path = &page[start..start + page[start..].find('"').unwrap()];
        assert!(path.ends_with(&format!(".{kind}")), "{path}");
        let hash = &path["/static/app-".len()..path.len() - kind.len() - 1];
        assert!(
            hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit()),
            "a content hash in {path}"
        );
        let asset = client()
            .get(format!("{}{path}", server.address))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), StatusCode::OK, "{path}");
        let header = |name: &str| asset.headers()[name].to_str().unwrap().to_string();
        assert!(header("content-type").starts_with(content_type));
        assert_eq!(
            header("cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert!(!asset.bytes().await.unwrap().is_empty());

        let stale = path.replace(hash, "000000000000");
        let missing = client()
            .get(format!("{}{stale}", server.address))
            .send()
            .await
            .unwrap();
        assert_eq!(
            missing.status(),
            StatusCode::NOT_FOUND,
            "an old hash is not served"
        );
    }
}

/// Every command that touches PostgreSQL, 100 times in a row, exits 0 every time. It
/// crashed at exit (SIGSEGV) in 6 % of runs: a pool thread was still opening a connection
/// (libpq's TLS handshake) while `exit()` ran OpenSSL's cleanup.
#[tokio::test]
async fn every_postgresql_command_exits_cleanly_100_times_in_a_row() {
    if !postgres_available() {
        return;
    }
    let database = PgDatabase::create();
    let folder = tempfile::tempdir().unwrap();
    let data_dir = folder.path().join("data");
    let (key, previous) = ("k".repeat(32) + "new", "k".repeat(32) + "old");
    let env = [
        ("SESAME_DATABASE_URL", database.url.as_str()),
        ("SESAME_SECRET_KEY", key.as_str()),
        ("SESAME_PREVIOUS_SECRET_KEY", previous.as_str()),
        ("SESAME_LOG", "warn"),
    ];
    let run = |args: &[&str], stdin: Option<String>| {
        let mut child = sesame(&data_dir)
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(line) = stdin {
            input.write_all(line.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    };
    let commands: [(&str, &dyn Fn(usize) -> std::process::Output); 6] = [
        ("migrate", &|_| run(&["migrate"], None)),
        ("user add", &|n| {
            let email = format!("deploy-{n}@example.com");
            run(
                &[
                    "user",
                    "add",
                    "--account",
                    "Acme",
                    "--email",
                    &email,
                    "--role",
                    "member",
                ],
                Some("plum-Orbit-lantern-42-gravel\n".into()),
            )
        }),
        ("seed", &|_| {
            run(&["seed", "--account", "Acme", "--tokens", "1"], None)
        }),
        ("notify --once", &|_| run(&["notify", "--once"], None)),
        ("rotate-key", &|_| run(&["rotate-key"], None)),
        ("sessions end-all", &|_| run(&["sessions", "end-all"], None)),
    ];
    for (name, command) in commands {
        for n in 0..100 {
            let output = command(n);
            assert!(
                output.status.success(),
                "`sesame {name}` run {n}: {:?}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// Issue 20, finding 3: whichever command runs first, the data directory is 0700 and every
/// file in it 0600 (it holds the database, the key and e-mails with live links); `serve`
/// tightens a looser directory it finds, and says so.
#[tokio::test]
async fn the_data_directory_and_its_files_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    assert!(user_add(&data_dir, "admin@acme.test", "admin", PASSWORD)
        .status
        .success());
    assert_eq!(mode(&data_dir), 0o700, "made by `user add`");
    for file in files(&data_dir) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }

    // A mail with a live link, written by the server as an `.eml` file.
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = start(&data_dir).await;
    assert_eq!(mode(&data_dir), 0o700, "serve tightened the directory");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("restricted it to 0700"), "{log}");
    let url = format!("{}/forgot", server.address);
    let sent = submit(&client(), &url, &url, &[("email", "admin@acme.test")]).await;
    assert_eq!(sent.status(), StatusCode::OK);
    let mail = data_dir.join("mail");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(mail.exists()
        && files(&mail)
            .iter()
            .any(|f| f.extension().is_some_and(|x| x == "eml")))
    {
        assert!(Instant::now() < deadline, "no .eml file");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(mode(&mail), 0o700);
    for file in files(&data_dir) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    drop(server);
}

/// `sesame scan`: the real password in a tree is found and masked, look-alikes, `.git` and
/// binary files are not; the exit code says which; `--revoke` ends the live token as a leak
/// report would, and refuses while a server holds the SQLite database.
#[tokio::test]
async fn scan_finds_passwords_by_checksum_and_revoke_ends_the_live_ones() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    assert!(user_add(&data_dir, "admin@acme.test", "admin", PASSWORD)
        .status
        .success());
    let server = start(&data_dir).await;
    let (id, username, password) = create_token_on(&server, "Committed").await;
    assert_eq!(
        whoami_on(&server, &username, &password).await,
        StatusCode::OK
    );

    let repo = root.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join("deploy")).unwrap();
    let mut look_alike = password.clone();
    look_alike.replace_range(10..11, if &password[10..11] == "a" { "b" } else { "a" });
    std::fs::write(
        repo.join("deploy/app.env"),
        format!("SESAME_USER={username}\nSESAME_PASSWORD={password}\n"),
    )
    .unwrap();
    std::fs::write(repo.join("README.md"), format!("e.g. {look_alike}\n")).unwrap();
    std::fs::write(repo.join(".git/ORIG_HEAD"), &password).unwrap();
    std::fs::write(
        repo.join("blob.bin"),
        [b"\0".as_slice(), password.as_bytes()].concat(),
    )
    .unwrap();
    let clean = root.path().join("clean");
    std::fs::create_dir_all(&clean).unwrap();
    std::fs::write(clean.join("notes.txt"), format!("{look_alike}\n")).unwrap();

    let scan = |args: &[&str]| {
        let output = sesame(&data_dir).arg("scan").args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !stdout.contains(&password) && !stderr.contains(&password),
            "the password is never printed: {stdout}{stderr}"
        );
        (output.status.code(), stdout, stderr)
    };
    let repo_arg = repo.to_str().unwrap();
    let (code, stdout, _) = scan(&[repo_arg]);
    assert_eq!(code, Some(1), "found: {stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with(&format!(
            "{repo_arg}/deploy/app.env:2: Sesame token password (checksum valid): {}",
            &password[..11]
        )),
        "{stdout}"
    );
    assert!(lines[0].ends_with('*'), "masked: {stdout}");
    assert_eq!(scan(&[clean.to_str().unwrap()]).0, Some(0), "a clean tree");
    assert_eq!(
        scan(&[root.path().join("missing").to_str().unwrap()]).0,
        Some(2)
    );

    // A running server caches checks: the command line must not revoke behind it.
    let (code, _, stderr) = scan(&["--revoke", repo_arg]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("server is running"), "{stderr}");
    assert_eq!(
        whoami_on(&server, &username, &password).await,
        StatusCode::OK
    );
    drop(server);

    let (code, stdout, stderr) = scan(&["--revoke", repo_arg]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.contains("[revoked now]"), "{stdout}");
    let (_, again, _) = scan(&["--revoke", repo_arg]);
    assert!(again.contains("[already expired or revoked]"), "{again}");
    let server = start(&data_dir).await;
    assert_eq!(
        whoami_on(&server, &username, &password).await,
        StatusCode::UNAUTHORIZED
    );
    {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            reason: String,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            notices: i64,
        }
        let mut db =
            diesel::SqliteConnection::establish(data_dir.join("sesame.db").to_str().unwrap())
                .unwrap();
        let row: Row = diesel::sql_query(format!(
            "SELECT revoke_reason AS reason, (SELECT COUNT(*) FROM outbox WHERE kind = 'token_leaked' \
             AND subject = 'API token revoked after a leak: Committed') AS notices \
             FROM api_tokens WHERE id = '{id}'"
        ))
        .get_result(&mut db)
        .unwrap();
        assert_eq!(
            row.reason,
            format!("reported leaked at {repo_arg}/deploy/app.env:2")
        );
        assert_eq!(row.notices, 1, "the admin is told, once");
    }
    drop(server);
}
