//! PostgreSQL with two real server processes, each with its own check cache: a token write
//! through one holds at the very next request on the other (docs/revocation.md), under
//! load, with a paused process, across a database restart, and without a lease; and so
//! does every end of a session, on the token pages that take sessions' claims from it.

use crate::binary::{sesame, start_with, user_add_with, Server};
use crate::helpers::*;
use reqwest::StatusCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `tokens::check_cache::LEASE`.
const LEASE: Duration = Duration::from_secs(3);
const KEY: &str = "a-shared-server-key-for-every-process-0123456789";

/// Two server processes on one database, an admin signed in on A.
struct Pair {
    a: Server,
    b: Server,
    admin: reqwest::Client,
    csrf: String,
    api: reqwest::Client,
    _dirs: tempfile::TempDir,
}

impl Pair {
    async fn start(database_url: &str) -> Self {
        let env = [
            ("SESAME_DATABASE_URL", database_url),
            ("SESAME_SECRET_KEY", KEY),
            // The tests call with revoked tokens on purpose, thousands of times.
            ("SESAME_API_MAX_FAILURES_PER_MINUTE", "100000000"),
            // Each process applies a change 10 ms after it arrives (debug builds): a writer
            // that answered before every process had applied it is caught at once.
            ("SESAME_TEST_APPLY_DELAY_MS", "10"),
        ];
        let dirs = tempfile::tempdir().unwrap();
        let (dir_a, dir_b) = (dirs.path().join("a"), dirs.path().join("b"));
        for dir in [&dir_a, &dir_b] {
            std::fs::create_dir_all(dir).unwrap();
        }
        for (email, role) in [
            ("admin@acme.test", "admin"),
            ("support@acme.test", "support"),
        ] {
            let added = user_add_with(&dir_a, &env, email, role, PASSWORD);
            assert!(added.status.success(), "{added:?}");
        }
        let a = start_with(&dir_a, &env).await;
        let b = start_with(&dir_b, &env).await;
        let admin = client();
        let signed_in = submit(
            &admin,
            &format!("{}/login", a.address),
            &format!("{}/login", a.address),
            &[("email", "admin@acme.test"), ("password", PASSWORD)],
        )
        .await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        let form = admin
            .get(format!("{}/tokens/new", a.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let pair = Self {
            a,
            b,
            admin,
            csrf: csrf_in(&form),
            api: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(2))
                .build()
                .unwrap(),
            _dirs: dirs,
        };
        for server in [&pair.a, &pair.b] {
            pair.wait_for_lease(server).await;
        }
        pair
    }

    /// Posts a form through A as the signed-in admin.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all = vec![("csrf_token", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.admin
            .post(format!("{}{path}", self.a.address))
            .form(&all)
            .send()
            .await
            .unwrap()
    }

    /// A new token made through A: (id, username, password).
    async fn create(&self, name: &str, allowed_ips: &str) -> (String, String, String) {
        let response = self
            .post(
                "/tokens",
                &[
                    ("name", name),
                    ("expires_in", "30d"),
                    ("allowed_ips", allowed_ips),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "creating {name}");
        let html = response.text().await.unwrap();
        (
            token_id_in(&html),
            element_text(&html, "token-username").unwrap(),
            element_text(&html, "token-password").unwrap(),
        )
    }

    async fn revoke(&self, id: &str) {
        let response = self.post(&format!("/tokens/{id}/revoke"), &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "revoking {id}");
    }

    /// Two checks on B, both accepted: the first reads the database and fills B's cache,
    /// the second is answered from it.
    async fn warm_on_b(&self, username: &str, password: &str) {
        for _ in 0..2 {
            assert_eq!(
                self.whoami(&self.b, username, password).await,
                StatusCode::OK
            );
        }
    }

    async fn whoami(&self, server: &Server, username: &str, password: &str) -> StatusCode {
        whoami(&self.api, server, username, password).await
    }

    /// Waits until `server` holds its lease (its cache may answer).
    async fn wait_for_lease(&self, server: &Server) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !serving(&self.api, &server.address).await {
            assert!(
                Instant::now() < deadline,
                "no lease on {}: {}",
                server.address,
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn whoami(
    api: &reqwest::Client,
    server: &Server,
    username: &str,
    password: &str,
) -> StatusCode {
    api.get(format!("{}/api/v1/whoami", server.address))
        .basic_auth(username, Some(password))
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}

/// The process's `sesame_check_cache_serving` gauge.
async fn serving(api: &reqwest::Client, address: &str) -> bool {
    let Ok(response) = api.get(format!("{address}/metrics")).send().await else {
        return false;
    };
    response
        .text()
        .await
        .unwrap_or_default()
        .lines()
        .any(|line| line == "sesame_check_cache_serving 1")
}

/// Calls whoami with one token on both processes from `tasks` tasks until stopped; counts
/// the calls and the ones accepted (200).
struct Load {
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(pair: &Pair, username: &str, password: &str, tasks: usize) -> Self {
        let (stop, calls, accepted) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let tasks = (0..tasks)
            .map(|i| {
                let address = if i % 2 == 0 {
                    pair.b.address.clone()
                } else {
                    pair.a.address.clone()
                };
                let (api, stop, calls, accepted) = (
                    pair.api.clone(),
                    stop.clone(),
                    calls.clone(),
                    accepted.clone(),
                );
                let (username, password) = (username.to_string(), password.to_string());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let status = api
                            .get(format!("{address}/api/v1/whoami"))
                            .basic_auth(&username, Some(&password))
                            .send()
                            .await
                            .map(|r| r.status());
                        calls.fetch_add(1, Ordering::Relaxed);
                        if matches!(status, Ok(StatusCode::OK)) {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            calls,
            accepted,
            tasks,
        }
    }

    /// Stops the load: (calls, accepted).
    async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        (
            self.calls.load(Ordering::Relaxed),
            self.accepted.load(Ordering::Relaxed),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_through_one_process_is_refused_by_the_other_at_once_1000_times() {
    if !postgres_available() {
        return;
    }
    let database = PgDatabase::create();
    let pair = Pair::start(&database.url).await;
    let (_, load_user, load_password) = pair.create("load", "").await;
    let load = Load::start(&pair, &load_user, &load_password, 4);
    let mut late = Vec::new();
    for i in 0..1000 {
        let (id, username, password) = pair.create(&format!("revoked {i}"), "").await;
        pair.warm_on_b(&username, &password).await;
        pair.revoke(&id).await;
        let status = pair.whoami(&pair.b, &username, &password).await;
        if status != StatusCode::UNAUTHORIZED {
            late.push((i, status));
        }
    }
    let (calls, accepted) = load.finish().await;
    assert!(
        late.is_empty(),
        "{} of 1,000 accepted after the revoke, the first: {:?}",
        late.len(),
        &late[..late.len().min(5)]
    );
    assert!(
        calls > 1000,
        "the load ran beside the revokes ({calls} calls)"
    );
    assert_eq!(accepted, calls, "a valid token was refused under load");
    drop(pair);
    drop(database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_allowed_networks_through_one_process_holds_on_the_other_at_once() {
    if !postgres_available() {
        return;
    }
    let database = PgDatabase::create();
    let pair = Pair::start(&database.url).await;
    let (id, username, password) = pair.create("moving", "127.0.0.1").await;
    let (_, load_user, load_password) = pair.create("load", "").await;
    let load = Load::start(&pair, &load_user, &load_password, 4);
    let mut wrong = Vec::new();
    for i in 0..200 {
        let (networks, expected) = if i % 2 == 0 {
            ("192.0.2.0/24", StatusCode::FORBIDDEN)
        } else {
            ("127.0.0.1", StatusCode::OK)
        };
        // B's cache holds the token as it was.
        assert_eq!(
            pair.whoami(&pair.b, &username, &password).await,
            if i % 2 == 0 {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            }
        );
        let updated = pair
            .post(
                &format!("/tokens/{id}"),
                &[
                    ("name", "moving"),
                    ("description", ""),
                    ("allowed_ips", networks),
                ],
            )
            .await;
        assert_eq!(updated.status(), StatusCode::SEE_OTHER);
        let status = pair.whoami(&pair.b, &username, &password).await;
        if status != expected {
            wrong.push((i, networks, status));
        }
    }
    let (calls, accepted) = load.finish().await;
    assert!(
        wrong.is_empty(),
        "B answered from before the change: {wrong:?}"
    );
    assert_eq!(accepted, calls, "a valid token was refused under load");
    drop(pair);
    drop(database);
}

fn signal(server: &Server, name: &str) {
    let done = std::process::Command::new("kill")
        .args([&format!("-{name}"), &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(done.success(), "kill -{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_waits_out_a_paused_process_which_refuses_the_token_when_resumed() {
    if !postgres_available() {
        return;
    }
    let database = PgDatabase::create();
    let pair = Pair::start(&database.url).await;
    let (id, username, password) = pair.create("paused", "").await;
    pair.warm_on_b(&username, &password).await;
    signal(&pair.b, "STOP");
    let started = Instant::now();
    pair.revoke(&id).await;
    let took = started.elapsed();
    // B renews its lease every second: the revoke waited for it to run out (a revoke
    // that waits for no one takes milliseconds), and no longer than one lease (with a
    // second's allowance for a loaded machine).
    assert!(
        took >= Duration::from_millis(500),
        "the revoke did not wait for the paused process ({took:?})"
    );
    assert!(
        took <= LEASE + Duration::from_secs(1),
        "the revoke took longer than a lease ({took:?})"
    );
    signal(&pair.b, "CONT");
    assert_eq!(
        pair.whoami(&pair.b, &username, &password).await,
        StatusCode::UNAUTHORIZED,
        "the resumed process answered from its cache"
    );
    // It claims its lease again, and its cache serves once more.
    pair.wait_for_lease(&pair.b).await;
    assert_eq!(
        pair.whoami(&pair.b, &username, &password).await,
        StatusCode::UNAUTHORIZED
    );
    let (_, fresh_user, fresh_password) = pair.create("after", "").await;
    assert_eq!(
        pair.whoami(&pair.b, &fresh_user, &fresh_password).await,
        StatusCode::OK
    );
    drop(pair);
    drop(database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_cannot_renew_its_lease_stops_answering_from_its_cache() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    if !postgres_available() {
        return;
    }
    let database = PgDatabase::create();
    let pair = Pair::start(&database.url).await;
    let (id, username, password) = pair.create("unleased", "").await;
    // Made now: a token write waits on the lease table, which is about to be locked.
    let (_, live_user, live_password) = pair.create("live", "").await;
    pair.warm_on_b(&username, &password).await;
    // No lease can be renewed while the table is locked. The token is then revoked in SQL,
    // behind Sesame's back: no process hears of it, and only a cache can still accept it.
    let mut locker = diesel::PgConnection::establish(&database.url).unwrap();
    locker
        .batch_execute("BEGIN; LOCK TABLE check_cache_leases IN ACCESS EXCLUSIVE MODE;")
        .unwrap();
    let mut other = diesel::PgConnection::establish(&database.url).unwrap();
    other
        .batch_execute(&format!(
            "UPDATE api_tokens SET revoked_at = now() WHERE id = '{id}'"
        ))
        .unwrap();
    assert_eq!(
        pair.whoami(&pair.b, &username, &password).await,
        StatusCode::OK,
        "B answers from its cache while its lease holds"
    );
    let locked = Instant::now();
    let deadline = locked + LEASE + Duration::from_millis(500);
    while pair.whoami(&pair.b, &username, &password).await == StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "B still answers from its cache without a lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!serving(&pair.api, &pair.b.address).await);
    assert_eq!(
        pair.whoami(&pair.a, &username, &password).await,
        StatusCode::UNAUTHORIZED
    );
    // A live token still works, read from the database.
    assert_eq!(
        pair.whoami(&pair.b, &live_user, &live_password).await,
        StatusCode::OK
    );
    locker.batch_execute("COMMIT;").unwrap();
    pair.wait_for_lease(&pair.b).await;
    assert_eq!(
        pair.whoami(&pair.b, &username, &password).await,
        StatusCode::UNAUTHORIZED
    );
    drop(pair);
    drop(database);
}

/// A PostgreSQL server of the test's own (initdb in a temporary folder, its own port), so
/// that it can be restarted without touching the server other tests share. Runs the
/// server binaries as the `postgres` user, since the tests run as root in CI.
struct PrivateCluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivateCluster {
    /// `None` (said loudly) where the binaries or the `postgres` user are missing, outside CI.
    fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|mut versions| versions.next())
            .and_then(|version| version.ok())
            .map(|version| version.path().join("bin"));
        let runnable = bin.as_ref().is_some_and(|bin| bin.join("initdb").exists())
            && std::process::Command::new("runuser")
                .args(["-u", "postgres", "--", "true"])
                .status()
                .is_ok_and(|s| s.success());
        if !runnable {
            let required = crate::helpers::in_ci();
            assert!(
                !required,
                "CI must be able to run a private PostgreSQL server"
            );
            eprintln!(
                "\n*** SKIPPED: no PostgreSQL binaries or no postgres user to run them ***\n"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let cluster = Self {
            port: free_port(),
            dir,
        };
        let chown = std::process::Command::new("chown")
            .args(["-R", "postgres", &cluster.dir.path().to_string_lossy()])
            .status()
            .unwrap();
        assert!(chown.success());
        cluster.pg(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "--auth=trust",
                "--username=postgres",
                "--no-sync",
            ],
        );
        cluster.ctl(&["start"]);
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg(&self, program: &str, args: &[&str]) {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join("bin")
            .join(program);
        let output = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{program} {args:?}: {output:?}");
    }

    /// `pg_ctl ACTION`, waiting for it to finish; the server listens on 127.0.0.1 only.
    fn ctl(&self, action: &[&str]) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let data = self.data();
        let log = self.dir.path().join("server.log");
        let mut args = vec!["-D", &data, "-w", "-o", &options, "-l"];
        let log = log.to_string_lossy().into_owned();
        args.push(&log);
        args.extend_from_slice(action);
        self.pg("pg_ctl", &args);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(
                std::path::Path::new("/usr/lib/postgresql")
                    .read_dir()
                    .ok()
                    .and_then(|mut v| v.next())
                    .and_then(|v| v.ok())
                    .map(|v| v.path().join("bin/pg_ctl"))
                    .unwrap_or_default(),
            )
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_a_postgresql_restart_under_load_no_revoked_token_is_accepted() {
    let Some(cluster) = PrivateCluster::start() else {
        return;
    };
    let pair = Pair::start(&cluster.url()).await;
    let (revoked_id, revoked_user, revoked_password) = pair.create("revoked", "").await;
    let (live_id, live_user, live_password) = pair.create("live", "").await;
    let (during_id, during_user, during_password) = pair.create("during", "").await;
    for server in [&pair.a, &pair.b] {
        for (user, password) in [
            (&revoked_user, &revoked_password),
            (&live_user, &live_password),
            (&during_user, &during_password),
        ] {
            assert_eq!(
                whoami(&pair.api, server, user, password).await,
                StatusCode::OK
            );
        }
    }
    pair.revoke(&revoked_id).await;
    // Every change empties the caches whole: B caches "during" again.
    assert_eq!(
        pair.whoami(&pair.b, &during_user, &during_password).await,
        StatusCode::OK
    );

    // Callers keep trying the revoked token on both processes through the restart.
    let stop = Arc::new(AtomicBool::new(false));
    let callers = Load::start(&pair, &revoked_user, &revoked_password, 2);
    let load = Load::start(&pair, &live_user, &live_password, 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Whether each process's cache stopped serving at some point (its lease connection
    // broke with the restart).
    let lapsed: Vec<_> = [pair.a.address.clone(), pair.b.address.clone()]
        .into_iter()
        .map(|address| {
            let (api, stop) = (pair.api.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if !serving(&api, &address).await {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                false
            })
        })
        .collect();
    // B is paused across the restart, so it cannot reconnect before the next revoke
    // commits: the change's notice is lost to it, and only its claim of a new lease
    // (which empties its cache) keeps it from answering from before.
    signal(&pair.b, "STOP");
    tokio::task::block_in_place(|| cluster.ctl(&["-m", "fast", "restart"]));
    // Revoked through A as soon as the database is back (A's first tries may meet its
    // broken connections: 503). A's write waits for B's lease to run out.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = pair.post(&format!("/tokens/{during_id}/revoke"), &[]).await;
        match response.status() {
            StatusCode::SEE_OTHER => break,
            StatusCode::SERVICE_UNAVAILABLE if Instant::now() < deadline => {}
            other => panic!("revoking after the restart answered {other}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(&pair.b, "CONT");
    // Refused: 401, or 503 while B's pool still meets connections the restart broke.
    assert_ne!(
        pair.whoami(&pair.b, &during_user, &during_password).await,
        StatusCode::OK
    );

    // Both processes recover by themselves: the live token works again on each, and each
    // holds its lease again.
    for server in [&pair.a, &pair.b] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while whoami(&pair.api, server, &live_user, &live_password).await != StatusCode::OK {
            assert!(
                Instant::now() < deadline,
                "{} did not recover",
                server.address
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pair.wait_for_lease(server).await;
    }
    // B holds a lease again, and its cache did not keep the token from before.
    assert_eq!(
        pair.whoami(&pair.b, &during_user, &during_password).await,
        StatusCode::UNAUTHORIZED
    );
    load.finish().await;
    stop.store(true, Ordering::Relaxed);
    let (calls, accepted) = callers.finish().await;
    for watcher in lapsed {
        assert!(
            watcher.await.unwrap(),
            "a process kept its lease through the restart"
        );
    }
    assert!(
        calls > 100,
        "the callers ran through the restart ({calls} calls)"
    );
    assert_eq!(
        accepted, 0,
        "a revoked token was accepted across the restart"
    );
    // A revoke after the restart holds on the other process at its next request.
    assert_eq!(
        pair.whoami(&pair.b, &live_user, &live_password).await,
        StatusCode::OK
    );
    pair.revoke(&live_id).await;
    assert_eq!(
        pair.whoami(&pair.b, &live_user, &live_password).await,
        StatusCode::UNAUTHORIZED
    );
    drop(pair);
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_notice_on_the_channel_acknowledges_nothing_that_did_not_happen() {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Acks {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        highest: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        last: i64,
    }
    if !postgres_available() {
        return;
    }
    let database = PgDatabase::create();
    let pair = Pair::start(&database.url).await;
    let mut conn = diesel::PgConnection::establish(&database.url).unwrap();
    conn.batch_execute("NOTIFY sesame_token_changes, '9000000000000000000'")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let acks: Acks = diesel::sql_query(
        "SELECT (SELECT max(acked) FROM check_cache_leases) AS highest, \
         (SELECT last_change FROM token_changes) AS last",
    )
    .get_result(&mut conn)
    .unwrap();
    assert!(
        acks.highest <= acks.last,
        "acknowledged {} with {} changes made",
        acks.highest,
        acks.last
    );
    // And the next real change is still waited for and applied.
    let (id, username, password) = pair.create("after the stray notice", "").await;
    assert_eq!(
        pair.whoami(&pair.b, &username, &password).await,
        StatusCode::OK
    );
    pair.revoke(&id).await;
    assert_eq!(
        pair.whoami(&pair.b, &username, &password).await,
        StatusCode::UNAUTHORIZED
    );
    drop(pair);
    drop(database);
}

/// The support user signed in through A, in a browser of their own (with its cookies).
async fn support_signs_in(pair: &Pair) -> (reqwest::Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let login = format!("{}/login", pair.a.address);
    let fields = [("email", "support@acme.test"), ("password", PASSWORD)];
    let signed_in = submit(&browser, &login, &login, &fields).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    (browser, jar)
}

/// API Tokens on B: its status, and where a refusal sends the browser.
async fn tokens_on_b(pair: &Pair, browser: &reqwest::Client) -> (StatusCode, String) {
    let response = browser
        .get(format!("{}/tokens", pair.b.address))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (
        status,
        if status.is_redirection() {
            location(&response)
        } else {
            String::new()
        },
    )
}

/// Shown twice on B: the first view reads the session's row and holds its claim, the
/// second is answered from that claim.
async fn warm_tokens_on_b(pair: &Pair, browser: &reqwest::Client) {
    for _ in 0..2 {
        assert_eq!(tokens_on_b(pair, browser).await.0, StatusCode::OK);
    }
}

async fn refused_on_b(pair: &Pair, browser: &reqwest::Client, after: &str) {
    assert_eq!(
        tokens_on_b(pair, browser).await,
        (StatusCode::SEE_OTHER, sign_in_for("/tokens")),
        "B still showed API Tokens after {after}"
    );
}

/// A form of `page` on A, posted by `browser` with its CSRF token.
async fn post_on_a(
    pair: &Pair,
    browser: &reqwest::Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> StatusCode {
    let page = format!("{}{page}", pair.a.address);
    let action = format!("{}{action}", pair.a.address);
    submit(browser, &page, &action, fields).await.status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_end_of_a_session_through_one_process_holds_on_the_others_token_pages_at_once() {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    if !postgres_available() {
        return;
    }
    let database = PgDatabase::create();
    let pair = Pair::start(&database.url).await;
    let mut conn = diesel::PgConnection::establish(&database.url).unwrap();
    let support_id = diesel::sql_query("SELECT id FROM users WHERE email = 'support@acme.test'")
        .get_result::<Id>(&mut conn)
        .unwrap()
        .id;

    // Signing out: the cookie, kept from before, opens nothing on B.
    let (browser, jar) = support_signs_in(&pair).await;
    let replay = replaying(&jar, &pair.b.address);
    warm_tokens_on_b(&pair, &replay).await;
    let signed_out = post_on_a(&pair, &browser, "/logout", "/logout", &[]).await;
    assert_eq!(signed_out, StatusCode::SEE_OTHER);
    refused_on_b(&pair, &replay, "signing out through A").await;

    // Ending one other session, from the Sessions page (its one form for another session).
    let ((this, _), (other, _)) = (support_signs_in(&pair).await, support_signs_in(&pair).await);
    warm_tokens_on_b(&pair, &other).await;
    let sessions = format!("{}/sessions", pair.a.address);
    let page = this
        .get(&sessions)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ends: Vec<&str> = page
        .split("action=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|action| action.starts_with("/sessions/") && action.ends_with("/end"))
        .collect();
    assert_eq!(ends.len(), 1, "{page}");
    let ended = post_on_a(&pair, &this, "/sessions", ends[0], &[]).await;
    assert_eq!(ended, StatusCode::SEE_OTHER);
    refused_on_b(&pair, &other, "ending that session through A").await;

    // Ending one's other sessions.
    let (other, _) = support_signs_in(&pair).await;
    warm_tokens_on_b(&pair, &other).await;
    let ended = post_on_a(&pair, &this, "/sessions", "/sessions/end-others", &[]).await;
    assert_eq!(ended, StatusCode::SEE_OTHER);
    refused_on_b(&pair, &other, "ending the other sessions through A").await;
    warm_tokens_on_b(&pair, &this).await;

    // An admin ending every session of the user.
    let ends = format!("/users/{support_id}/sessions/end");
    let ended = post_on_a(&pair, &pair.admin, "/users", &ends, &[]).await;
    assert_eq!(ended, StatusCode::SEE_OTHER);
    refused_on_b(&pair, &this, "an admin ended the user's sessions through A").await;

    // A new role, then disabling: each ends the user's sessions.
    let (browser, _) = support_signs_in(&pair).await;
    warm_tokens_on_b(&pair, &browser).await;
    let role = format!("/users/{support_id}/role");
    let changed = post_on_a(&pair, &pair.admin, "/users", &role, &[("role", "admin")]).await;
    assert_eq!(changed, StatusCode::SEE_OTHER);
    refused_on_b(&pair, &browser, "a role change through A").await;
    let (browser, _) = support_signs_in(&pair).await;
    warm_tokens_on_b(&pair, &browser).await;
    let disable = format!("/users/{support_id}/disable");
    let disabled = post_on_a(&pair, &pair.admin, "/users", &disable, &[]).await;
    assert_eq!(disabled, StatusCode::SEE_OTHER);
    refused_on_b(&pair, &browser, "disabling the user through A").await;

    // `sesame seed` into the running servers, from a third process: B's token pages, which
    // held the account's version with the claim, show the new tokens at once.
    warm_tokens_on_b(&pair, &pair.admin).await;
    let cli = pair._dirs.path().join("cli");
    std::fs::create_dir_all(&cli).unwrap();
    let command = |args: &[&str]| {
        sesame(&cli)
            .env("SESAME_DATABASE_URL", &database.url)
            .env("SESAME_SECRET_KEY", KEY)
            .args(args)
            .output()
            .unwrap()
    };
    let seeded = command(&["seed", "--account", "Acme", "--tokens", "30"]);
    assert!(seeded.status.success(), "{seeded:?}");
    let list = pair
        .admin
        .get(format!("{}/tokens", pair.b.address))
        .send()
        .await
        .unwrap();
    assert!(
        list.text().await.unwrap().contains("synthetic-"),
        "B's API Tokens did not show the seeded tokens"
    );

    // The operator's `sesame sessions end-all`.
    warm_tokens_on_b(&pair, &pair.admin).await;
    let ended = command(&["sessions", "end-all"]);
    assert!(ended.status.success(), "{ended:?}");
    refused_on_b(&pair, &pair.admin, "`sesame sessions end-all`").await;
    drop(pair);
    drop(database);
}

/// A confirmed password turns the session's key over (`auth::store`): from then on the old
/// key opens no token page in any process. Two apps in this test process on one database,
/// with A's test clock moved past the sudo window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_turned_over_at_sudo_opens_no_token_page_in_another_process() {
    if !postgres_available() {
        return;
    }
    BACKEND
        .scope(Backend::Postgres, async {
            let vars = [("SESAME_SECRET_KEY", KEY), ("SESAME_SUDO_MINUTES", "5")];
            let a = spawn_app_with(&vars).await;
            let url = a.database_url();
            let b = spawn_app_with(&[vars[0], vars[1], ("SESAME_DATABASE_URL", &url)]).await;
            a.add_user("Acme", "admin@acme.test", sesame::db::users::Role::Admin);
            let jar = Arc::new(reqwest::cookie::Jar::default());
            let admin = Session {
                client: reqwest::Client::builder()
                    .cookie_provider(jar.clone())
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap(),
            };
            let login = a.url("/login");
            let fields = [("email", "admin@acme.test"), ("password", PASSWORD)];
            let signed_in = submit(&admin.client, &login, &login, &fields).await;
            assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
            let created = a.create_named(&admin, "to retrieve").await;

            // The key as it is now, replayed later by a copy of the cookie.
            let replay = replaying(&jar, &a.address);
            let deadline = Instant::now() + Duration::from_secs(20);
            while !b.check_cache.serving() {
                assert!(Instant::now() < deadline, "B never held its lease");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let on_b = || async { replay.get(b.url("/tokens")).send().await.unwrap() };
            for _ in 0..2 {
                assert_eq!(on_b().await.status(), StatusCode::OK);
            }

            a.clock.advance(chrono::Duration::minutes(6));
            let path = format!("/tokens/{}/credentials", created.id);
            let retrieved = a.post(&admin, &path, &[("sudo_password", PASSWORD)]).await;
            assert_eq!(retrieved.status(), StatusCode::OK);
            assert!(retrieved.text().await.unwrap().contains(&created.password));
            let refused = on_b().await;
            assert_eq!(
                refused.status(),
                StatusCode::SEE_OTHER,
                "the old key still opened API Tokens on B"
            );
            assert_eq!(location(&refused), sign_in_for("/tokens"));
            // The browser, with its new key, goes on.
            assert_eq!(
                admin
                    .client
                    .get(b.url("/tokens"))
                    .send()
                    .await
                    .unwrap()
                    .status(),
                StatusCode::OK
            );
        })
        .await;
}

/// A client that sends, on every request, the session cookie `jar` holds now for
/// `address`: a copy of the cookie, replayed after the session has moved on.
fn replaying(jar: &reqwest::cookie::Jar, address: &str) -> reqwest::Client {
    let url: reqwest::Url = address.parse().unwrap();
    let kept = reqwest::cookie::CookieStore::cookies(jar, &url).expect("a session cookie");
    reqwest::Client::builder()
        .default_headers([(reqwest::header::COOKIE, kept)].into_iter().collect())
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}
