//! Reliability and abuse: each test here failed before its fix (issue 14).

use crate::helpers::*;
use base64::Engine;
use reqwest::StatusCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn basic_raw(raw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn basic(token: &Created) -> String {
    basic_raw(&format!("{}:{}", token.username, token.password))
}

async fn whoami(app: &TestApp, authorization: Option<&str>, from: &str) -> StatusCode {
    let mut request = client()
        .get(app.url("/api/v1/whoami"))
        .header("x-forwarded-for", from);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap().status()
}

// A NUL (or any control character) in the credentials is malformed: 401, and counted, so
// the address is throttled like any other guesser (was a 503 on PostgreSQL, never counted).
crate::both_backends! {
    #[tokio::test]
    async fn control_characters_in_credentials_are_a_counted_401() {
        let app = spawn_app_with(&[
            ("SESAME_TRUSTED_PROXIES", "127.0.0.1"),
            ("SESAME_API_MAX_FAILURES_PER_MINUTE", "5"),
        ])
        .await;
        let nul = basic_raw("tok_\0x:y");
        for attempt in 1..=5 {
            assert_eq!(
                whoami(&app, Some(&nul), "198.51.100.9").await,
                StatusCode::UNAUTHORIZED,
                "attempt {attempt}"
            );
        }
        assert_eq!(
            whoami(&app, Some(&nul), "198.51.100.9").await,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            whoami(&app, Some(&basic_raw("tok_x:pass\u{7}word")), "198.51.100.10").await,
            StatusCode::UNAUTHORIZED
        );
    }
}

/// Asking for the challenge (no credentials) is not a failure: 40 such requests, then
/// valid credentials from the same address, succeed. Wrong ones still count, per IPv6 /64.
#[tokio::test]
async fn the_challenge_is_free_and_ipv6_counts_per_64() {
    let app = spawn_app_with(&[
        ("SESAME_TRUSTED_PROXIES", "127.0.0.1"),
        ("SESAME_API_MAX_FAILURES_PER_MINUTE", "5"),
    ])
    .await;
    let cast = app.cast().await;
    let token = app.create_named(&cast.admin, "Challenged").await;
    for _ in 0..40 {
        assert_eq!(
            whoami(&app, None, "198.51.100.20").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        whoami(&app, Some(&basic(&token)), "198.51.100.20").await,
        StatusCode::OK
    );

    // Five wrong guesses spread over one /64: the next from anywhere in it is throttled,
    // a neighbouring /64 is not.
    let wrong = basic_raw(&format!(
        "{}:not-the-password-at-all-0123456789",
        token.username
    ));
    for host in 1..=5 {
        let from = format!("2001:db8:7:1::{host:x}");
        assert_eq!(
            whoami(&app, Some(&wrong), &from).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        whoami(&app, Some(&wrong), "2001:db8:7:1:ffff::1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        whoami(&app, Some(&basic(&token)), "2001:db8:7:2::1").await,
        StatusCode::OK
    );
}

/// A renewal's first use revokes the old token. With the transaction held open just
/// before its commit while the old token is called from several tasks, the first call
/// after the commit must be refused (the check cache was emptied inside the transaction,
/// so a check in that window cached the still-active row under the new generation).
#[tokio::test]
async fn a_renewal_revokes_its_predecessor_for_every_check_after_the_commit() {
    // The callers keep calling after the commit until the test sees it: their 401s must
    // not reach the failure throttle (429), which would hide the answer asserted below.
    let app = spawn_app_with(&[("SESAME_API_MAX_FAILURES_PER_MINUTE", "1000000")]).await;
    let cache = app.check_cache.clone();
    let cast = app.cast().await;
    let old = app.create_named(&cast.admin, "Rotating").await;
    let new = app
        .create_token(
            &cast.admin,
            &[
                ("name", "Rotating"),
                ("expires_in", "30d"),
                ("renews", &old.id),
                ("revoke_old", "first_use"),
            ],
        )
        .await;
    let (in_window, committed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let window = in_window.clone();
    cache.pause_before_commit(move || {
        window.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(400));
    });
    // Several callers of the old token, all through the window.
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (url, auth, committed) =
                (app.url("/api/v1/whoami"), basic(&old), committed.clone());
            tokio::spawn(async move {
                let client = client();
                while !committed.load(Ordering::SeqCst) {
                    let _ = client.get(&url).header("authorization", &auth).send().await;
                }
            })
        })
        .collect();
    // The first use of the renewal starts the revocation (in the background).
    assert_eq!(
        whoami(&app, Some(&basic(&new)), "127.0.0.1").await,
        StatusCode::OK
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let revoked = || {
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM api_tokens WHERE id = '{}' AND revoked_at IS NOT NULL",
            old.id
        )) == 1
    };
    while !revoked() {
        assert!(Instant::now() < deadline, "the revocation did not commit");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        in_window.load(Ordering::SeqCst),
        "the hook ran inside the transaction"
    );
    committed.store(true, Ordering::SeqCst);
    for caller in callers {
        caller.await.unwrap();
    }
    // Give the writer time to return from its commit (the cache is emptied right after).
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..3 {
        assert_eq!(
            whoami(&app, Some(&basic(&old)), "127.0.0.1").await,
            StatusCode::UNAUTHORIZED,
            "the revoked predecessor is still accepted"
        );
    }
}

/// "Forgot password": three e-mails an hour to one address, whatever is asked; the answer
/// is the same for every address; one client address is limited too.
#[tokio::test]
async fn forgot_password_cannot_flood_a_mailbox() {
    let app = spawn_app_with(&[("SESAME_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let cast = app.cast().await;
    drop(cast);
    let ask = |email: &'static str, from: String| {
        let app = &app;
        async move {
            let browser = client();
            let page = browser
                .get(app.url("/forgot"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let response = browser
                .post(app.url("/forgot"))
                .header("x-forwarded-for", from)
                .form(&[("csrf_token", csrf_in(&page).as_str()), ("email", email)])
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            (status, body.replace(email, "EMAIL"))
        }
    };
    let (_, unknown_answer) = ask("nobody@example.com", "198.51.100.30".into()).await;
    for n in 0..20 {
        let (status, answer) = ask("admin@acme.test", format!("198.51.100.{}", 31 + n)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            strip_csrf(&answer),
            strip_csrf(&unknown_answer),
            "the answer says nothing"
        );
    }
    // Links are made after the answer, by the background worker.
    let deadline = Instant::now() + Duration::from_secs(5);
    while reset_mails(&app) < 3 {
        assert!(Instant::now() < deadline, "the reset e-mails were not sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(reset_mails(&app), 3);
    let links = app.count("SELECT COUNT(*) AS n FROM user_links WHERE purpose = 'reset'");
    assert_eq!(links, 3, "three reset links (and e-mails) an hour");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM outbox WHERE body_text LIKE '%/reset/%'"),
        0,
        "no copy of a link is stored"
    );

    // One client address, many e-mail addresses: limited (429) after 20 an hour.
    let mut statuses = Vec::new();
    for _ in 0..21 {
        statuses.push(ask("someone@example.com", "198.51.100.99".into()).await.0);
    }
    assert!(
        statuses[..20].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(statuses[20], StatusCode::TOO_MANY_REQUESTS);
}

fn strip_csrf(html: &str) -> String {
    html.lines()
        .filter(|line| !line.contains("csrf_token"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reset e-mails written by the file mailer (tests have no SMTP URL).
fn reset_mails(app: &TestApp) -> usize {
    let dir = sesame::notify::mailer::mail_dir(&app.settings);
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .filter(|mail| mail.contains("/reset/"))
                .count()
        })
        .unwrap_or(0)
}

// A burst of 200 wrong sign-ins (each from its own address, so none is throttled and every
// one is hashed) while an admin browses and a client calls the API: hashing holds no
// database connection and runs one per core, so no page or call answers 5xx, the API's p99
// stays under 50 ms and pages' under a second (they waited behind the hashes for seconds).
mod burst {
    use super::*;
    crate::both_backends! {
    #[tokio::test]
    async fn a_burst_of_sign_ins_starves_neither_pages_nor_the_api() {
        let app = spawn_app_with(&[("SESAME_TRUSTED_PROXIES", "127.0.0.1")]).await;
        let cast = app.cast().await;
        let token = app.create_named(&cast.admin, "Busy").await;
        // A timed check on a shared machine: a burst over the limits is run again (three
        // bursts at most), and fails only if every one is; starvation (seconds) stays over.
        let mut rounds: Vec<(Duration, Duration)> = Vec::new();
        let within = |(api, page): &(Duration, Duration)| {
            *api < Duration::from_millis(50) && *page < Duration::from_secs(1)
        };
        while rounds.len() < 3 && !rounds.iter().any(within) {
            rounds.push(burst(&app, &cast, &token, rounds.len()).await);
        }
        assert!(rounds.iter().any(within), "API and page p99 in each burst: {rounds:?}");
    }
    }

    /// One burst of 200 wrong sign-ins (round `round`: addresses of its own) beside the
    /// admin's pages and the API; the API's p99 and the pages' (every answer asserted).
    async fn burst(
        app: &TestApp,
        cast: &Cast,
        token: &Created,
        round: usize,
    ) -> (Duration, Duration) {
        let done = Arc::new(AtomicBool::new(false));

        let api = {
            let (url, auth, done) = (app.url("/api/v1/whoami"), basic(token), done.clone());
            tokio::spawn(async move {
                let client = client();
                let mut times = Vec::new();
                let mut statuses = Vec::new();
                while !done.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let status = client
                        .get(&url)
                        .header("authorization", &auth)
                        .send()
                        .await
                        .unwrap()
                        .status();
                    times.push(started.elapsed());
                    statuses.push(status);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                (times, statuses)
            })
        };
        let pages = {
            let (app_url, done) = (app.url("/tokens"), done.clone());
            let admin = cast.admin.client.clone();
            tokio::spawn(async move {
                let (mut times, mut statuses) = (Vec::new(), Vec::new());
                while !done.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    statuses.push(admin.get(&app_url).send().await.unwrap().status());
                    times.push(started.elapsed());
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                (times, statuses)
            })
        };
        let login = app.url("/login");
        let signins = futures_util::future::join_all((round * 200..round * 200 + 200).map(|n| {
            let login = login.clone();
            async move {
                let browser = client();
                let page = browser
                    .get(&login)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                browser
                    .post(&login)
                    .header("x-forwarded-for", format!("10.{}.{}.1", n / 250, n % 250))
                    .form(&[
                        ("csrf_token", csrf_in(&page).as_str()),
                        ("email", &format!("guess-{n}@example.com")),
                        ("password", "wrong-wrong-wrong-wrong"),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        }))
        .await;
        done.store(true, Ordering::SeqCst);
        let (mut times, api_statuses) = api.await.unwrap();
        let (mut page_times, page_statuses) = pages.await.unwrap();
        assert!(
            signins.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
            "{signins:?}"
        );
        assert!(
            api_statuses.iter().all(|s| *s == StatusCode::OK),
            "{api_statuses:?}"
        );
        assert!(
            page_statuses.iter().all(|s| *s == StatusCode::OK),
            "{page_statuses:?}"
        );
        assert!(
            times.len() >= 20,
            "the API was called throughout ({})",
            times.len()
        );
        times.sort();
        let p99 = times[times.len() * 99 / 100];
        page_times.sort();
        let page_p99 = page_times[page_times.len() * 99 / 100];
        eprintln!(
            "round {round}: API p99 {p99:?} ({} calls), page p99 {page_p99:?} ({} pages)",
            times.len(),
            page_times.len()
        );
        (p99, page_p99)
    }
}
