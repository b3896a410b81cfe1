//! The paths that keep pages fast at scale agree with plain SQL: the in-memory directory
//! behind API Tokens (pages, search), and the cached summary behind the Dashboard's counts.

use crate::helpers::*;
use chrono::Duration;
use reqwest::StatusCode;
use sesame::clock::Clock;
use sesame::db::tokens::{self, InactiveFilter};
use sesame::keys::ServerKey;
use sesame::tokens::directory::DirectoryCache;
use sesame::tokens::secret::TokenCrypto;
use sesame::tokens::summary::SummaryCache;

fn account_id(app: &TestApp, name: &str) -> String {
    app.text(&format!(
        "SELECT id AS t FROM accounts WHERE name = '{name}'"
    ))
}

crate::both_backends! {
#[tokio::test]
async fn the_in_memory_list_and_search_agree_with_sql_page_by_page() {
    let app = spawn_app().await;
    let crypto = TokenCrypto::new(&ServerKey::from_secret(&[7; 32]));
    let mut conn = app.pool.get().unwrap();
    let now = app.clock.now();
    sesame::seed::seed(&mut conn, &crypto, "Acme", 600, now).unwrap();
    let account = account_id(&app, "Acme");

    let cache = DirectoryCache::default();
    // Later moments too: tokens expire out of the directory without a reload.
    for later in [Duration::zero(), Duration::days(3), Duration::days(40)] {
        let now = now + later;
        let directory = cache.get(&mut conn, &account, now).unwrap().expect("held in memory");
        for search in [None, Some("00001"), Some("SYNTHETIC"), Some("tok_"), Some("no such")] {
            let total = tokens::count_active(&mut conn, &account, now, search).unwrap();
            for offset in [0, 25, 350, total.max(1) - 1] {
                let page = directory.page(now, search, offset as usize, 25);
                let sql = tokens::list_active(&mut conn, &account, now, search, 25, offset).unwrap();
                let sql: Vec<String> = sql.into_iter().map(|r| r.id).collect();
                assert_eq!(page.ids, sql, "{search:?} at offset {offset}, {later}");
                assert_eq!(page.total, total, "{search:?}, {later}");
            }
        }
    }
}

#[tokio::test]
async fn an_account_too_large_for_memory_is_listed_by_sql_until_it_shrinks() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let account = account_id(&app, "Acme");
    app.create_named(&cast.admin, "a").await;
    app.create_named(&cast.admin, "b").await;
    let c = app.create_named(&cast.admin, "c").await;
    let cache = DirectoryCache::with_max_tokens(2);
    let mut conn = app.pool.get().unwrap();
    let now = app.clock.now();
    assert!(cache.get(&mut conn, &account, now).unwrap().is_none());
    // Remembered for this version: still too large, without loading again.
    assert!(cache.get(&mut conn, &account, now).unwrap().is_none());
    let revoked = app.post(&cast.admin, &format!("/tokens/{}/revoke", c.id), &[]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let directory = cache.get(&mut conn, &account, now).unwrap().expect("small enough now");
    assert_eq!(directory.page(now, None, 0, 25).total, 2);
}

#[tokio::test]
async fn the_summary_is_recounted_after_any_change_and_as_time_passes() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let account = account_id(&app, "Acme");
    let cache = SummaryCache::default();
    let mut conn = app.pool.get().unwrap();
    let counts = |conn: &mut _, now| cache.get(conn, &account, now).unwrap().counts;

    let now = app.clock.now();
    assert_eq!(counts(&mut conn, now).active, 0);
    app.create_token(&cast.admin, &[("name", "a"), ("expires_in", "7d")]).await;
    assert_eq!(counts(&mut conn, now).active, 1, "a new token counts at once");

    // Expiry by time alone shows within a minute.
    let after_expiry = now + Duration::days(8) + Duration::seconds(1);
    assert_eq!(counts(&mut conn, after_expiry).expired, 1);
    app.create_named(&cast.admin, "b").await;
    let revoked = app
        .post(&cast.admin, &format!("/tokens/{}/revoke", app.create_named(&cast.admin, "c").await.id), &[])
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let now = app.clock.now();
    let counts_now = counts(&mut conn, now);
    assert_eq!((counts_now.active, counts_now.revoked), (2, 1), "{counts_now:?}");

    // The pages read the same figures.
    let inactive = app.get_html(&cast.admin, "/tokens/inactive").await;
    assert!(inactive.contains("revoked"), "{inactive}");
    let filtered = tokens::count_inactive(&mut conn, &account, now, &InactiveFilter::default()).unwrap();
    assert_eq!(filtered, 1);
    let dashboard = app.get_html(&cast.admin, "/dashboard").await;
    assert!(
        dashboard.contains(r#"id="count-active"><span class="stat-value">2<"#),
        "two active on the Dashboard"
    );
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
