//! With PostgreSQL gone, pages and the API answer 503 quickly (never hang, never 500),
//! /healthz says so, and the app recovers by itself when the database returns.

use crate::helpers::*;
use crate::proxy::Proxy;
use reqwest::StatusCode;
use sesame::tokens::check_cache::LEASE;
use std::time::{Duration, Instant};

// Multi-threaded: building the app blocks its thread while the proxy must keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_down_everything_answers_503_quickly_then_recovers() {
    if !postgres_available() {
        return;
    }
    let database = PgDatabase::create();
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let via_proxy = database
        .url
        .replacen(":5432/", &format!(":{}/", proxy.port), 1);
    assert_ne!(via_proxy, database.url);
    let app = spawn_app_with(&[("SESAME_DATABASE_URL", &via_proxy)]).await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Survivor").await;
    let api = || {
        reqwest::Client::new()
            .get(app.url("/api/v1/whoami"))
            .basic_auth(&token.username, Some(&token.password))
            .send()
    };
    assert_eq!(api().await.unwrap().status(), StatusCode::OK);

    let csrf = app.csrf(&cast.admin).await;

    proxy.stop();
    let started = Instant::now();
    let health = client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(health.text().await.unwrap().contains("database"));
    let page = app.get(&cast.admin, "/tokens").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.headers().contains_key("retry-after"));
    // The check cache may answer the token it holds until this process's lease runs out
    // (a writer elsewhere waits for that lease: docs/revocation.md); then it must be 503.
    let lease_ends = started + LEASE + Duration::from_secs(1);
    loop {
        let status = api().await.unwrap().status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert_eq!(
            status,
            StatusCode::OK,
            "only the cached answer may precede 503"
        );
        assert!(
            Instant::now() < lease_ends,
            "the API still answered from its cache after the lease ran out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let create = cast
        .admin
        .client
        .post(app.url("/tokens"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "x"),
            ("expires_in", "7d"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answers took {:?}",
        started.elapsed()
    );

    proxy.resume();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = client()
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status();
        if health == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the app did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        app.get(&cast.admin, "/tokens").await.status(),
        StatusCode::OK
    );
    assert_eq!(api().await.unwrap().status(), StatusCode::OK);
    drop(app);
    drop(database);
}

/// The pool does not test a connection each time it hands one out (that cost a round trip
/// per use): a connection the database closed fails one request, and is then replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_database_closed_fails_once_and_is_replaced() {
    if !postgres_available() {
        return;
    }
    let database = PgDatabase::create();
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let via_proxy = database
        .url
        .replacen(":5432/", &format!(":{}/", proxy.port), 1);
    let app = spawn_app_with(&[("SESAME_DATABASE_URL", &via_proxy)]).await;
    let health = || async {
        client()
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
    };
    // Open several connections at once.
    let opened = futures_util::future::join_all((0..8).map(|_| health())).await;
    assert!(opened.iter().all(|s| *s == StatusCode::OK), "{opened:?}");

    // A restart: every open connection is cut; the database is back at once.
    proxy.stop();
    proxy.resume();
    let mut answers = Vec::new();
    for _ in 0..30 {
        answers.push(health().await);
    }
    let failed = answers.iter().filter(|s| **s != StatusCode::OK).count();
    let pool_size = app.pool.max_size() as usize;
    assert!(failed <= pool_size, "{failed} failures: {answers:?}");
    assert!(
        answers[20..].iter().all(|s| *s == StatusCode::OK),
        "still failing: {answers:?}"
    );
    drop(app);
    drop(database);
}

/// What the operator reads (the command line, the scheduler's log) keeps the cause of a
/// failure, while a user sees nothing of it.
#[test]
fn an_internal_error_keeps_its_cause_for_the_operator() {
    use sesame::error::AppError;
    let cause = diesel::result::Error::QueryBuilderError("the cause itself".into());
    let error = AppError::from(cause);
    assert_eq!(error.to_string(), "internal error", "what a page says");
    let report = format!("{:#}", error.into_anyhow());
    assert_eq!(report, "database: the cause itself");
    // A database that is gone is the caller's to retry, not a bug (503).
    let gone = AppError::from(sesame::db::DbError::Unavailable);
    assert!(matches!(gone, AppError::Unavailable), "{gone:?}");
}
