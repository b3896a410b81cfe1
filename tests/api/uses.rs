//! Last uses are written in batches: one statement for every token used in a tick.

use crate::helpers::*;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use sesame::db::uses::{self, Use};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts the statements a connection runs.
struct Counter(Arc<AtomicUsize>);

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

crate::both_backends! {
    #[tokio::test]
    async fn the_uses_of_many_tokens_are_one_statement_and_keep_the_once_a_minute_rule() {
        use diesel::Connection;
        let app = spawn_app().await;
        let cast = app.cast().await;
        let mut tokens = Vec::new();
        for i in 0..25 {
            tokens.push(app.create_named(&cast.admin, &format!("used {i}")).await);
        }
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap();
        let batch: Vec<Use> = tokens
            .iter()
            .map(|t| Use {
                token_id: t.id.clone().into(),
                ip: Some("192.0.2.7".into()),
                at,
                unless_since: at - chrono::Duration::seconds(60),
            })
            .collect();
        let statements = Arc::new(AtomicUsize::new(0));
        let mut conn = app.pool.get().unwrap();
        conn.set_instrumentation(Counter(statements.clone()));
        uses::record(&mut conn, &batch).unwrap();
        assert_eq!(statements.load(Ordering::Relaxed), 1, "one statement for 25 tokens");
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM api_tokens WHERE last_used_ip = '192.0.2.7'"),
            25
        );
        // 30 s later, within the minute: nothing is rewritten; 61 s later, it is.
        let again = |seconds: i64, ip: &str| -> Vec<Use> {
            let later = at + chrono::Duration::seconds(seconds);
            batch
                .iter()
                .map(|u| Use {
                    token_id: u.token_id.clone(),
                    ip: Some(ip.into()),
                    at: later,
                    unless_since: later - chrono::Duration::seconds(60),
                })
                .collect()
        };
        uses::record(&mut conn, &again(30, "192.0.2.8")).unwrap();
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM api_tokens WHERE last_used_ip = '192.0.2.8'"),
            0
        );
        uses::record(&mut conn, &again(61, "192.0.2.9")).unwrap();
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM api_tokens WHERE last_used_ip = '192.0.2.9'"),
            25
        );
    }
}

/// The uncached check's read is one statement, prepared once per connection and reused
/// (diesel's statement cache; a boxed or raw query would be planned at every call).
#[tokio::test]
async fn the_checks_read_is_prepared_once_per_connection_on_postgres() {
    use diesel::prelude::*;
    if !postgres_available() {
        return;
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let database = PgDatabase::create();
    let pool =
        sesame::db::connect(&sesame::config::DatabaseUrl::Postgres(database.url.clone())).unwrap();
    let mut conn = pool.get().unwrap();
    let prepared = |conn: &mut sesame::db::DbConn| {
        diesel::sql_query(
            "SELECT count(*) AS n FROM pg_prepared_statements \
             WHERE statement LIKE '%\"api_tokens\".\"secret_hmac\"%' \
             AND statement LIKE '%\"api_tokens\".\"username\" = $1%'",
        )
        .get_result::<Count>(conn)
        .unwrap()
        .n
    };
    for round in 1..=5 {
        sesame::db::tokens::find_for_check(&mut conn, &format!("tok_absent{round}")).unwrap();
        assert_eq!(prepared(&mut conn), 1, "after {round} checks");
    }
    drop(conn);
    drop(pool);
    drop(database);
}
