//! `spawn_app()` and the small tools every test uses.

use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use sesame::clock::TestClock;
use sesame::config::Settings;
use sesame::db::{self, accounts, users, DbPool};
use sesame::notify::scheduler::{Notifier, TickReport};
use sesame::startup::Application;
use std::sync::Arc;
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub address: String,
    /// Kept so the directory lives as long as the app.
    pub _data_dir: TempDir,
    pub clock: Arc<TestClock>,
    pub pool: DbPool,
    pub setup_code: Option<String>,
    pub notifier: Arc<Notifier>,
    pub settings: Settings,
    pub check_cache: Arc<sesame::tokens::check_cache::CheckCache>,
    /// The background worker of "Forgot password" and failed sign-ins.
    pub direct_mail: Arc<sesame::notify::direct::DirectMail>,
    /// Dropped last: the PostgreSQL database of this test, if any.
    _database: Option<PgDatabase>,
}

/// Which database a test's app uses. Tests written inside `both_backends!` run once on
/// each; the rest run on SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    pub static BACKEND: Backend;
}

fn backend() -> Backend {
    BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite)
}

/// Generates a `sqlite::` and a `postgres::` copy of each test.
#[macro_export]
macro_rules! both_backends {
    ($(#[tokio::test] async fn $name:ident() $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::helpers::BACKEND.scope($crate::helpers::Backend::Sqlite, async $body).await
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    if !$crate::helpers::postgres_available() {
                        return;
                    }
                    $crate::helpers::BACKEND.scope($crate::helpers::Backend::Postgres, async $body).await
                }
            )*
        }
    };
}

/// The server for PostgreSQL tests (each test gets a database of its own on it).
fn postgres_server() -> String {
    std::env::var("SESAME_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Whether this is CI (`CI` set, and not to `false`): there a test whose outside service is
/// missing fails instead of skipping.
/// Waits up to 10 s for `condition`, then fails naming `what`.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Where a signed-out GET of `path` is sent: the sign-in page, which returns there.
pub fn sign_in_for(path: &str) -> String {
    let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
    format!("/login?next={next}")
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// Whether PostgreSQL tests can run. Without a server they are skipped, loudly, on a
/// developer's machine; in CI (or with SESAME_TEST_REQUIRE_POSTGRES=1) they fail instead.
pub fn postgres_available() -> bool {
    use diesel::Connection;
    static AVAILABLE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let available = AVAILABLE.get_or_init(|| {
        diesel::PgConnection::establish(&format!("{}/postgres", postgres_server()))
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    match available {
        Ok(()) => true,
        Err(error) => {
            let required =
                in_ci() || std::env::var("SESAME_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "PostgreSQL is required here but unreachable at {}: {error}",
                postgres_server()
            );
            // Straight to stderr, past the test harness's capture: a skip must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED a PostgreSQL test: no server at {} ({error}) ***\n",
                postgres_server()
            );
            false
        }
    }
}

/// A database of a test's own, dropped with it.
pub struct PgDatabase {
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn create() -> Self {
        use diesel::{Connection, RunQueryDsl};
        let name = format!("sesame_test_{}", uuid_like());
        let mut admin =
            diesel::PgConnection::establish(&format!("{}/postgres", postgres_server())).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap();
        Self {
            url: format!("{}/{name}", postgres_server()),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        use diesel::{Connection, RunQueryDsl};
        if let Ok(mut admin) =
            diesel::PgConnection::establish(&format!("{}/postgres", postgres_server()))
        {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

fn uuid_like() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
        .collect()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// An app with extra `SESAME_*` settings.
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let dir = data_dir.path().to_string_lossy().into_owned();
    let database = (backend() == Backend::Postgres).then(PgDatabase::create);
    let database_url = database.as_ref().map(|db| db.url.clone());
    let settings = Settings::from_lookup(|name| {
        let given = vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string());
        given.or(match name {
            "SESAME_BIND" => Some("127.0.0.1:0".into()),
            "SESAME_DATA_DIR" => Some(dir.clone()),
            "SESAME_DATABASE_URL" => database_url.clone(),
            // Tests tick the scheduler themselves (creating a token still wakes it).
            "SESAME_NOTIFY_INTERVAL_SECS" => Some("86400".into()),
            // A test that moves the clock past a week's start gets no weekly report unless
            // it asks for one (`weekly_report`'s tests).
            "SESAME_WEEKLY_REPORT_DAY" => Some("off".into()),
            // Tests move the clock by days: sessions and sudo mode last unless a test says so.
            "SESAME_SESSION_IDLE_MINUTES"
            | "SESAME_SESSION_MAX_MINUTES"
            | "SESAME_SUDO_MINUTES" => Some("100000000".into()),
            _ => None,
        })
    })
    .expect("test settings are valid");
    let clock = Arc::new(TestClock::default());
    let app = Application::build(settings.clone(), clock.clone()).expect("the application builds");
    let host = if settings_ipv6(vars) {
        "[::1]"
    } else {
        "127.0.0.1"
    };
    let address = format!("http://{host}:{}", app.port());
    let pool = app.pool();
    let setup_code = app.setup_code();
    let notifier = app.notifier();
    let settings = app.settings().clone();
    let check_cache = app.check_cache();
    let direct_mail = app.direct_mail();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        _data_dir: data_dir,
        clock,
        pool,
        setup_code,
        notifier,
        settings,
        check_cache,
        direct_mail,
        _database: database,
    }
}

/// Whether the app listens on IPv6 loopback (an IPv4-mapped address is reached over IPv4).
fn settings_ipv6(vars: &[(&str, &str)]) -> bool {
    vars.iter()
        .any(|(k, v)| *k == "SESAME_BIND" && v.starts_with("[::1]"))
}

pub fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        // Shorter than the server's keep-alive (5 s): a connection is never reused just as
        // the server closes it (a test pausing between requests saw "connection closed").
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("a reqwest client")
}

/// A user signed in, with their browser.
pub struct Session {
    pub client: Client,
}

impl TestApp {
    /// One scheduler pass, as the server's own scheduler would run it.
    pub async fn tick(&self) -> TickReport {
        let notifier = self.notifier.clone();
        tokio::task::spawn_blocking(move || notifier.tick())
            .await
            .unwrap()
            .expect("the tick runs")
    }

    /// Another scheduler on the same database: a restart, or a second process.
    pub fn second_notifier(&self) -> Notifier {
        let pool = db::connect(&self.settings.database_url).unwrap();
        let mailer = sesame::notify::mailer::Mailer::from_settings(&self.settings).unwrap();
        Notifier::new(
            pool,
            mailer,
            self.clock.clone(),
            self.settings.base_url.clone(),
        )
    }

    /// The database's URL as its connections name it (statement capture is per URL).
    pub fn database_url(&self) -> String {
        match &self.settings.database_url {
            sesame::config::DatabaseUrl::Sqlite(path) => path.to_string_lossy().into_owned(),
            sesame::config::DatabaseUrl::Postgres(url) => url.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Creates a user directly in the database (the account too, if new).
    pub fn add_user(&self, account: &str, email: &str, role: users::Role) {
        let mut conn = self.pool.get().expect("a connection");
        let now = chrono::Utc::now().naive_utc();
        let account_id = match accounts::find_by_name(&mut conn, account).unwrap() {
            Some(a) => a.id,
            None => {
                let id = sesame::domain::AccountId::generate();
                accounts::insert(&mut conn, &id, account, now).unwrap();
                id
            }
        };
        let hash = sesame::auth::password::hash(PASSWORD);
        let id = sesame::domain::UserId::generate();
        users::insert(
            &mut conn,
            &users::NewUser {
                id: &id,
                account_id: &account_id,
                email: &sesame::domain::EmailAddress::parse(email).unwrap(),
                password_hash: &hash,
                role,
            },
            now,
        )
        .unwrap();
        // They have signed in from this machine's test client before: their sign-ins in a
        // test are not new devices (`sessions::a_sign_in_from_a_new_device_…` uses browsers
        // of their own), so the e-mail tests count only the notices they are about.
        let device = sesame::db::sessions::SignInDevice {
            user_id: &id,
            browser: "an unknown browser",
            os: "an unknown system",
            ip: "127.0.0.1",
        };
        let at = sesame::clock::Clock::now(&*self.clock);
        sesame::db::sessions::remember_device(&mut conn, &device, at, at).unwrap();
    }

    pub async fn login(&self, email: &str) -> Session {
        let client = client();
        let response = submit(
            &client,
            &self.url("/login"),
            &self.url("/login"),
            &[("email", email), ("password", PASSWORD)],
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "sign-in of {email} failed"
        );
        Session { client }
    }

    /// The usual cast: an admin and a support user of Acme, a member of Acme, and an admin
    /// of another account.
    pub async fn cast(&self) -> Cast {
        self.add_user("Acme", "admin@acme.test", users::Role::Admin);
        self.add_user("Acme", "support@acme.test", users::Role::Support);
        self.add_user("Acme", "member@acme.test", users::Role::Member);
        self.add_user("Globex", "admin@globex.test", users::Role::Admin);
        Cast {
            admin: self.login("admin@acme.test").await,
            support: self.login("support@acme.test").await,
            member: self.login("member@acme.test").await,
            other_admin: self.login("admin@globex.test").await,
        }
    }

    pub async fn get(&self, session: &Session, path: &str) -> Response {
        session.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_html(&self, session: &Session, path: &str) -> String {
        let response = self.get(session, path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }

    /// POSTs a form with the session's CSRF token added.
    pub async fn post(&self, session: &Session, path: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf(session).await;
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        session
            .client
            .post(self.url(path))
            .form(&all)
            .send()
            .await
            .unwrap()
    }

    pub async fn csrf(&self, session: &Session) -> String {
        let page = self.get(session, "/dashboard").await.text().await.unwrap();
        csrf_in(&page)
    }

    /// Creates a token through the Add Token form and returns what the page showed.
    pub async fn create_token(&self, session: &Session, fields: &[(&str, &str)]) -> Created {
        let response = self.post(session, "/tokens", fields).await;
        assert_eq!(response.status(), StatusCode::OK, "creating a token");
        let html = response.text().await.unwrap();
        Created {
            id: token_id_in(&html),
            username: element_text(&html, "token-username").expect("the username"),
            password: element_text(&html, "token-password").expect("the password"),
        }
    }

    /// What `GET /api/v1/whoami` with this token's credentials answers.
    pub async fn whoami(&self, token: &Created) -> StatusCode {
        Client::new()
            .get(self.url("/api/v1/whoami"))
            .basic_auth(&token.username, Some(&token.password))
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn create_named(&self, session: &Session, name: &str) -> Created {
        self.create_token(session, &[("name", name), ("expires_in", "30d")])
            .await
    }

    /// A fingerprint of every token-related row, to prove a rejected request changed nothing.
    pub fn snapshot(&self) -> String {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            line: String,
        }
        let mut conn = self.pool.get().unwrap();
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT id || '|' || name || '|' || description || '|' || COALESCE(CAST(revoked_at AS TEXT), '') || '|' || CAST(updated_at AS TEXT) AS line FROM api_tokens \
             UNION ALL SELECT token_id || '|' || CAST(position AS TEXT) || '|' || network FROM token_networks \
             UNION ALL SELECT 'audit|' || CAST(COUNT(*) AS TEXT) FROM audit_events WHERE action LIKE 'token.%' ORDER BY 1",
        )
        .load(&mut conn)
        .unwrap();
        rows.into_iter()
            .map(|r| r.line)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A single text value (`... AS t`).
    pub fn text(&self, sql: &str) -> String {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Text {
            #[diesel(sql_type = diesel::sql_types::Text)]
            t: String,
        }
        let mut conn = self.pool.get().unwrap();
        diesel::sql_query(sql)
            .get_result::<Text>(&mut conn)
            .unwrap()
            .t
    }

    pub fn count(&self, sql: &str) -> i64 {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.pool.get().unwrap();
        diesel::sql_query(sql)
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n
    }
}

pub struct Cast {
    pub admin: Session,
    pub support: Session,
    pub member: Session,
    pub other_admin: Session,
}

pub struct Created {
    pub id: String,
    pub username: String,
    pub password: String,
}

/// What a browser does with a form: GET the page, then POST the fields to `action` with
/// the page's CSRF token.
pub async fn submit(
    browser: &Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> Response {
    let html = browser
        .get(page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&html);
    let mut all = vec![("csrf_token", csrf.as_str())];
    all.extend_from_slice(fields);
    browser.post(action).form(&all).send().await.unwrap()
}

/// The id in the created page's link to the token page.
pub fn token_id_in(html: &str) -> String {
    let at = html
        .find("id=\"token-page-link\"")
        .expect("a link to the token page");
    between(&html[at..], "href=\"/tokens/", "\"").unwrap()
}

pub fn csrf_in(html: &str) -> String {
    between(html, "name=\"csrf_token\" value=\"", "\"").expect("a CSRF field on the page")
}

pub fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(text[from..to].to_string())
}

/// An `Authorization: Basic` value.
pub fn basic(username: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

/// The text inside the element with this id.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let open_end = html[at..].find('>')? + at + 1;
    let close = html[open_end..].find('<')? + open_end;
    Some(html[open_end..close].trim().to_string())
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// A loopback port free right now (for a process the test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
