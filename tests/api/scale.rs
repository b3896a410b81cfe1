//! The paths that keep pages fast at scale agree with plain SQL: the in-memory token lists
//! behind API Tokens, Expired & Revoked and the Dashboard's counts, including after changes
//! merged in by version; and the numbered audit log and outbox behind their pages.

use crate::helpers::*;
use crate::statements::{self, Capture};
use chrono::{Duration, NaiveDateTime};
use reqwest::StatusCode;
use sesame::clock::Clock;
use sesame::db::tokens::{self, ActiveFilter, Ended, InactiveFilter};
use sesame::db::usage;
use sesame::db::DbConn;
use sesame::domain::{AccountId, TokenId};
use sesame::keys::ServerKey;
use sesame::tokens::lists::{AccountAt, TokenLists};
use sesame::tokens::secret::TokenCrypto;

pub fn account_id(app: &TestApp, name: &str) -> AccountId {
    AccountId::from(app.text(&format!(
        "SELECT id AS t FROM accounts WHERE name = '{name}'"
    )))
}

/// Every filter of Expired & Revoked the comparisons try, one at a time and together.
fn inactive_filters(now: NaiveDateTime) -> Vec<InactiveFilter> {
    vec![
        InactiveFilter::default(),
        InactiveFilter {
            ended: Some(Ended::Revoked),
            ..Default::default()
        },
        InactiveFilter {
            ended: Some(Ended::Expired),
            ..Default::default()
        },
        InactiveFilter {
            from: Some(now - Duration::days(60)),
            before: Some(now - Duration::days(20)),
            ..Default::default()
        },
        InactiveFilter {
            creator: Some("SEED-".into()),
            text: Some("00004".into()),
            ended: Some(Ended::Expired),
            ..Default::default()
        },
        InactiveFilter {
            text: Some("no such token".into()),
            ..Default::default()
        },
    ]
}

/// Compares every list the pages read, page by page, with the SQL that lists them.
fn assert_lists_agree_with_sql(
    conn: &mut DbConn,
    lists: &TokenLists,
    account: &AccountId,
    now: NaiveDateTime,
) {
    let directory = lists
        .directory(conn, account)
        .unwrap()
        .expect("held in memory");
    let searches = [
        None,
        Some("00001"),
        Some("SYNTHETIC"),
        Some("tok_"),
        Some("no such"),
    ];
    let unused = [
        None,
        Some(usage::window_start(now, 30)),
        Some(usage::window_start(now, 2)),
    ];
    for (search, unused_since) in searches
        .iter()
        .flat_map(|s| unused.iter().map(move |u| (s, u)))
    {
        let filter = ActiveFilter {
            search: search.map(String::from),
            unused_since: *unused_since,
        };
        let total = tokens::count_active(conn, account, now, &filter).unwrap();
        for offset in [0, 25, 350, total.max(1) - 1] {
            let page = directory.active(now, &filter, offset as usize, 25);
            let sql = tokens::list_active(conn, account, now, &filter, 25, offset).unwrap();
            let sql: Vec<TokenId> = sql.into_iter().map(|(r, _)| r.id).collect();
            assert_eq!(page.ids, sql, "active {filter:?} at offset {offset}, {now}");
            assert_eq!(page.total, total, "active {filter:?}, {now}");
        }
    }
    for filter in inactive_filters(now) {
        let total = tokens::count_inactive(conn, account, now, &filter).unwrap();
        for offset in [0, 25, 100, total.max(1) - 1] {
            let page = directory.inactive(now, &filter, offset as usize, 25);
            let sql = tokens::list_inactive(conn, account, now, &filter, 25, offset).unwrap();
            let sql: Vec<TokenId> = sql.into_iter().map(|(r, _)| r.id).collect();
            assert_eq!(
                page.ids, sql,
                "inactive {filter:?} at offset {offset}, {now}"
            );
            assert_eq!(page.total, total, "inactive {filter:?}, {now}");
        }
    }
    let soon = now + Duration::days(7);
    let weeks: Vec<NaiveDateTime> = (0..13).map(|w| now + Duration::weeks(w)).collect();
    let unused_since = usage::window_start(now, 30);
    let (counts, per_week) = directory.counts(now, soon, unused_since, &weeks);
    let sql = tokens::counts(conn, account, now, soon, unused_since).unwrap();
    assert_eq!(
        (
            counts.active,
            counts.expiring_soon,
            counts.expired,
            counts.revoked,
            counts.unused
        ),
        (
            sql.active,
            sql.expiring_soon,
            sql.expired,
            sql.revoked,
            sql.unused
        ),
        "counts at {now}"
    );
    for (start, count) in weeks.iter().zip(per_week) {
        let sql =
            tokens::count_expiring_between(conn, account, *start, *start + Duration::weeks(1));
        assert_eq!(count, sql.unwrap(), "week of {start}");
    }
}

crate::both_backends! {
#[tokio::test]
async fn the_in_memory_lists_and_counts_agree_with_sql_page_by_page() {
    let app = spawn_app().await;
    let crypto = TokenCrypto::new(&ServerKey::from_secret(&[7; 32]));
    let mut conn = app.pool.get().unwrap();
    let now = app.clock.now();
    sesame::seed::seed(&mut conn, &crypto, "Acme", 600, now).unwrap();
    let account = account_id(&app, "Acme");
    let lists = TokenLists::default();
    // Later moments too: tokens expire out of one list into the other without a reload.
    for later in [Duration::zero(), Duration::days(3), Duration::days(40)] {
        assert_lists_agree_with_sql(&mut conn, &lists, &account, now + later);
    }
}

#[tokio::test]
async fn changes_made_after_loading_are_merged_in_by_version() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let crypto = TokenCrypto::new(&ServerKey::from_secret(&[7; 32]));
    let account = account_id(&app, "Acme");
    let lists = TokenLists::default();
    {
        let mut conn = app.pool.get().unwrap();
        sesame::seed::seed(&mut conn, &crypto, "Acme", 300, app.clock.now()).unwrap();
        assert_lists_agree_with_sql(&mut conn, &lists, &account, app.clock.now());
    }
    // Through the pages: a new token, an update, a revocation, and another seeding.
    let kept = app.create_named(&cast.admin, "kept").await;
    let revoked = app.create_named(&cast.admin, "revoked soon").await;
    let updated = app
        .post(&cast.admin, &format!("/tokens/{}", kept.id), &[("name", "renamed zebra"), ("description", ""), ("allowed_ips", "")])
        .await;
    assert_eq!(updated.status(), StatusCode::SEE_OTHER);
    let revoke = app.post(&cast.admin, &format!("/tokens/{}/revoke", revoked.id), &[]).await;
    assert_eq!(revoke.status(), StatusCode::SEE_OTHER);
    let mut conn = app.pool.get().unwrap();
    sesame::seed::seed(&mut conn, &crypto, "Acme", 40, app.clock.now()).unwrap();
    let now = app.clock.now();
    assert_lists_agree_with_sql(&mut conn, &lists, &account, now);
    let directory = lists.directory(&mut conn, &account).unwrap().unwrap();
    assert_eq!(
        directory
            .active(now, &ActiveFilter { search: Some("ZEBRA".into()), ..Default::default() }, 0, 10)
            .ids,
        [TokenId::from(kept.id.clone())]
    );
    assert_eq!(directory.len(), 342, "each token once, whatever changed");
}

#[tokio::test]
async fn an_account_too_large_for_memory_is_listed_by_sql() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let account = account_id(&app, "Acme");
    app.create_named(&cast.admin, "a").await;
    app.create_named(&cast.admin, "b").await;
    let c = app.create_named(&cast.admin, "c").await;
    let lists = TokenLists::with_max_tokens(2);
    let mut conn = app.pool.get().unwrap();
    assert!(lists.directory(&mut conn, &account).unwrap().is_none());
    // Tokens are never deleted, so it stays too large, also after a change.
    let revoked = app.post(&cast.admin, &format!("/tokens/{}/revoke", c.id), &[]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert!(lists.directory(&mut conn, &account).unwrap().is_none());
    // The pages' answers come from SQL then, the same answers.
    let now = app.clock.now();
    let account = AccountAt {
        id: &account,
        version: sesame::db::accounts::version(&mut conn, &account).unwrap(),
    };
    let (rows, total) = lists.active_page(&mut conn, account, now, &ActiveFilter::default(), 0, 25).unwrap();
    assert_eq!((rows.len(), total), (2, 2));
    let (rows, total) = lists.inactive_page(&mut conn, account, now, &InactiveFilter::default(), 0, 25).unwrap();
    assert_eq!((rows[0].0.id.as_str(), total), (c.id.as_str(), 1));
    let summary = lists.summary(&mut conn, account, now).unwrap();
    assert_eq!((summary.counts.active, summary.counts.revoked), (2, 1));
}

#[tokio::test]
async fn a_first_load_in_chunks_holds_every_token_once() {
    let app = spawn_app().await;
    let crypto = TokenCrypto::new(&ServerKey::from_secret(&[7; 32]));
    let mut conn = app.pool.get().unwrap();
    let now = app.clock.now();
    // 12,000 tokens: the seed's first 10,000 share one account version, so the 5,000-row
    // chunks start inside a version as well as at one.
    sesame::seed::seed(&mut conn, &crypto, "Acme", 12_000, now).unwrap();
    let account = account_id(&app, "Acme");
    let lists = TokenLists::default();
    let directory = lists.directory(&mut conn, &account).unwrap().expect("held");
    assert_eq!(directory.len(), 12_000);
    assert_lists_agree_with_sql(&mut conn, &lists, &account, now);
    // An account found too large in the middle of its load is listed by SQL.
    let small = TokenLists::with_max_tokens(7_000);
    assert!(small.directory(&mut conn, &account).unwrap().is_none());
}

#[tokio::test]
async fn a_batch_of_reminders_updates_its_account_row_once_not_once_a_notice() {
    statements::install();
    let app = spawn_app().await;
    app.add_user("Bulk", "admin@bulk.test", sesame::db::users::Role::Admin);
    let crypto = TokenCrypto::new(&ServerKey::from_secret(&[7; 32]));
    let account = account_id(&app, "Bulk");
    {
        use diesel::RunQueryDsl;
        let mut conn = app.pool.get().unwrap();
        sesame::seed::seed(&mut conn, &crypto, "Bulk", 1_200, app.clock.now()).unwrap();
        // Every token not revoked expires tomorrow: three batches of reminders (500 each).
        let tomorrow = (app.clock.now() + Duration::days(1)).format("%Y-%m-%d %H:%M:%S");
        diesel::sql_query(format!(
            "UPDATE api_tokens SET expires_at = '{tomorrow}' WHERE revoked_at IS NULL"
        ))
        .execute(&mut *conn)
        .unwrap();
    }
    let due = app.count("SELECT COUNT(*) AS n FROM api_tokens WHERE revoked_at IS NULL");
    assert!(due > 1_000, "{due}");

    let capture = Capture::start(&app.database_url());
    let report = app.tick().await;
    let run = capture.take();
    drop(capture);
    assert_eq!(report.reminders_queued as i64, due);
    let account_updates = run.iter().filter(|s| s.sql.starts_with("UPDATE \"accounts\"")).count();
    let savepoints = run.iter().filter(|s| s.sql.starts_with("SAVEPOINT")).count();
    // Per batch: the row locked, then its numbers taken.
    assert!(account_updates <= 6, "{account_updates} updates of the account row");
    assert_eq!(savepoints, 0);
    // The numbers stay dense, and a second scheduler queues nothing again.
    let count = |sql: &str| app.count(&sql.replace("ACCOUNT", account.as_str()));
    let notices = count("SELECT COUNT(*) AS n FROM outbox WHERE account_id = 'ACCOUNT'");
    assert_eq!(notices, due);
    assert_eq!(count("SELECT MAX(seq) AS n FROM outbox WHERE account_id = 'ACCOUNT'"), notices);
    let second = app.second_notifier();
    let again = tokio::task::spawn_blocking(move || second.tick().unwrap()).await.unwrap();
    assert_eq!(again.reminders_queued, 0);
}

#[tokio::test]
async fn audit_and_notification_pages_are_numbered_ranges_of_the_newest_first_lists() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let account = account_id(&app, "Acme");
    {
        let mut conn = app.pool.get().unwrap();
        let now = app.clock.now() - Duration::hours(1);
        sesame::seed::seed_events(&mut conn, "Acme", 60, now).unwrap();
        sesame::seed::seed_notices(&mut conn, "Acme", 40, now).unwrap();
    }
    // One more of each, made as users make them: it comes first.
    let created = app.create_named(&cast.admin, "newest").await;
    let count = |sql: &str| app.count(&sql.replace("ACCOUNT", account.as_str()));
    let events = count("SELECT COUNT(*) AS n FROM audit_events WHERE account_id = 'ACCOUNT'");
    let notices = count("SELECT COUNT(*) AS n FROM outbox WHERE account_id = 'ACCOUNT'");
    // Numbered 1..n without a gap, in each account.
    assert_eq!(count("SELECT COUNT(DISTINCT seq) AS n FROM audit_events WHERE account_id = 'ACCOUNT'"), events);
    assert_eq!(count("SELECT MAX(seq) AS n FROM audit_events WHERE account_id = 'ACCOUNT'"), events);
    assert_eq!(count("SELECT MAX(seq) AS n FROM outbox WHERE account_id = 'ACCOUNT'"), notices);

    let audit = app.get_html(&cast.admin, "/audit").await;
    assert!(audit.contains(&format!("Page 1 of {}", (events + 24) / 25)), "{audit}");
    assert!(between(&audit, "<tbody>", "</tr>").unwrap().contains("newest"), "newest event first");
    let last_page = (events + 24) / 25;
    let last = app.get_html(&cast.admin, &format!("/audit?page={last_page}")).await;
    let rows_on_last = last.matches("<tr>").count() - 1;
    assert_eq!(rows_on_last as i64, events - (last_page - 1) * 25, "the last page holds the rest");

    let notifications = app.get_html(&cast.admin, "/notifications").await;
    assert!(notifications.contains(&format!("Page 1 of {}", (notices + 24) / 25)), "{notifications}");
    assert!(notifications.contains(&created.id), "the new token's notice is on page 1");
    let page2 = app.get_html(&cast.admin, "/notifications?page=2").await;
    assert!(page2.contains("synthetic-0000"), "older notices on page 2");
}
}

#[tokio::test]
async fn seeding_gives_its_connection_back_to_the_pool_with_the_usual_settings() {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Synchronous {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        synchronous: i32,
    }
    let app = spawn_app().await;
    let crypto = TokenCrypto::new(&ServerKey::from_secret(&[7; 32]));
    let mut conn = app.pool.get().unwrap();
    sesame::seed::seed(&mut conn, &crypto, "Acme", 10, app.clock.now()).unwrap();
    // Seeding turns fsync off; the pooled connection must not keep it off (1 is NORMAL).
    let setting: Synchronous = diesel::sql_query("PRAGMA synchronous")
        .get_result(&mut *conn)
        .unwrap();
    assert_eq!(setting.synchronous, 1);
}
