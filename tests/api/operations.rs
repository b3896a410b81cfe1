//! What operators rely on: /metrics.

use crate::helpers::*;
use crate::smtp::SmtpServer;
use reqwest::StatusCode;

fn metric(text: &str, line_start: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

crate::both_backends! {
#[tokio::test]
async fn metrics_count_requests_checks_notices_and_the_pool() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(&[("SESAME_SMTP_URL", &smtp.url())]).await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Measured").await;
    app.get_html(&cast.admin, &format!("/tokens/{}", token.id)).await;
    let api = reqwest::Client::new();
    let ok = api.get(app.url("/api/v1/whoami")).basic_auth(&token.username, Some(&token.password)).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let bad = api.get(app.url("/api/v1/whoami")).basic_auth(&token.username, Some("wrong")).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    app.tick().await;

    // The app's own scheduler may be sending the notice right now: wait for it. Its
    // counter moves just after the row is marked sent, so wait for both.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let response = client().get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        let text = response.text().await.unwrap();
        if metric(&text, "sesame_outbox_notices{status=\"sent\"}") == Some(1)
            && metric(&text, "sesame_notices_sent_total") == Some(1)
        {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "the notice was never sent:\n{text}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(metric(&text, "sesame_http_requests_total{route=\"/api/v1/whoami\",status=\"200\"}"), Some(1));
    assert_eq!(metric(&text, "sesame_http_requests_total{route=\"/api/v1/whoami\",status=\"401\"}"), Some(1));
    assert_eq!(metric(&text, "sesame_http_requests_total{route=\"/tokens/{id}\",status=\"200\"}"), Some(1));
    assert_eq!(metric(&text, "sesame_token_checks_total{outcome=\"valid\"}"), Some(1));
    assert_eq!(metric(&text, "sesame_token_checks_total{outcome=\"invalid\"}"), Some(1));
    assert_eq!(metric(&text, "sesame_outbox_notices{status=\"sent\"}"), Some(1));
    assert_eq!(metric(&text, "sesame_outbox_notices{status=\"pending\"}"), Some(0));
    assert_eq!(metric(&text, "sesame_notices_sent_total"), Some(1));
    assert_eq!(metric(&text, "sesame_notices_failed_total"), Some(0));
    assert!(metric(&text, "sesame_db_pool_connections{state=\"idle\"}").is_some());
    assert!(metric(&text, "sesame_db_pool_max_connections").unwrap() >= 1);
    assert!(!text.contains(&token.id) && !text.contains("Acme"), "nothing about any account");
}
}

/// What a connection of the app's pool reports of TLS (`pg_stat_ssl`).
fn uses_tls(pool: &sesame::db::DbPool) -> bool {
    truth(
        pool,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
}

/// A one-value boolean query's answer, named `ssl`.
fn truth(pool: &sesame::db::DbPool, query: &str) -> bool {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Ssl {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ssl: bool,
    }
    let mut conn = pool.get().unwrap();
    let sesame::db::DbConn::Pg(pg) = &mut *conn else {
        panic!("a PostgreSQL pool")
    };
    diesel::sql_query(query).get_result::<Ssl>(pg).unwrap().ssl
}

#[tokio::test]
async fn a_database_on_loopback_is_reached_without_tls_unless_the_url_asks_for_it() {
    if !postgres_available() {
        return;
    }
    let database = PgDatabase::create();
    let plain = sesame::config::DatabaseUrl::parse(&database.url).unwrap();
    let pool = sesame::db::connect(&plain).unwrap();
    assert!(!uses_tls(&pool));
    if !truth(&pool, "SELECT current_setting('ssl') = 'on' AS ssl") {
        eprintln!("*** this PostgreSQL has TLS off: a URL asking for it is not tried ***");
        return;
    }
    // With TLS on (Debian's default), a URL asking for it gets it.
    let asked =
        sesame::config::DatabaseUrl::parse(&format!("{}?sslmode=require", database.url)).unwrap();
    assert!(uses_tls(&sesame::db::connect(&asked).unwrap()));
}
