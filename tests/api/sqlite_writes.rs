//! SQLite write transactions take the write lock when they begin, so one that reads before
//! it writes waits for another writer instead of failing ("database is locked"): the
//! command line (`sesame user add`) runs beside a server that writes.

use sesame::config::DatabaseUrl;
use sesame::db::{self, accounts};
use sesame::domain::AccountId;
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn a_transaction_that_reads_then_writes_survives_a_writer_in_between() {
    let dir = tempfile::tempdir().unwrap();
    let pool = db::connect(&DatabaseUrl::Sqlite(dir.path().join("writes.db"))).unwrap();
    let now = chrono::Utc::now().naive_utc();
    accounts::insert(
        &mut pool.get().unwrap(),
        &AccountId::generate(),
        "Acme",
        now,
    )
    .unwrap();

    let (began, other_may_write) = mpsc::channel();
    let other_pool = pool.clone();
    let other = std::thread::spawn(move || {
        other_may_write.recv().unwrap();
        db::transaction::<_, db::DbError>(&mut other_pool.get().unwrap(), |conn| {
            accounts::insert(conn, &AccountId::generate(), "Globex", now)?;
            Ok(())
        })
    });
    let first = db::transaction::<_, db::DbError>(&mut pool.get().unwrap(), |conn| {
        // Reads first, as `user add` looks the account up before it inserts.
        accounts::find_by_name(conn, "Acme")?;
        began.send(()).unwrap();
        // A deferred transaction would let the other writer commit now, and then fail.
        std::thread::sleep(Duration::from_millis(300));
        accounts::insert(conn, &AccountId::generate(), "Initech", now)?;
        Ok(())
    });
    assert!(first.is_ok(), "{first:?}");
    let second = other.join().unwrap();
    assert!(second.is_ok(), "{second:?}");
}
