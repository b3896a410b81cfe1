//! PostgreSQL: keeps this process's lease (docs/revocation.md) on a connection of its own,
//! outside the pool. The same thread listens for token changes: at each it empties the
//! check cache, then acknowledges the change, so a writer waiting for every live lease
//! knows this process will not answer from before it.

use super::check_cache::{CheckCache, LEASE, MARGIN};
use crate::config::DatabaseUrl;
use crate::db::leases::{self, Listener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A lease is renewed this often: it then survives two missed renewals.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How often the connection is looked at for changes (libpq's notifications arrive on the
/// socket; diesel offers no wait for them).
const POLL: Duration = Duration::from_millis(1);
/// Reconnecting after a failure waits this long.
const RETRY: Duration = Duration::from_millis(250);

pub struct LeaseKeeper {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl LeaseKeeper {
    /// Starts the thread; it stops at `shutdown`, or once the cache is gone.
    pub fn start(url: DatabaseUrl, cache: &Arc<CheckCache>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (stopping, cache) = (stop.clone(), Arc::downgrade(cache));
        let thread = std::thread::Builder::new()
            .name("sesame-lease".into())
            .spawn(move || keep(&url, &cache, &stopping))
            .expect("the lease thread starts");
        Self {
            stop,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Gives the lease up and waits for the thread: the process must not exit while it is
    /// inside the database client (`db::close_connections`).
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        let thread = self.thread.lock().ok().and_then(|mut slot| slot.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// Holds a lease, reconnecting after every failure, until stopped.
fn keep(url: &DatabaseUrl, cache: &Weak<CheckCache>, stop: &AtomicBool) {
    let process_id = crate::db::new_id();
    let mut failing = false;
    while !stop.load(Ordering::Acquire) {
        let session = leases::listen(url)
            .map_err(anyhow::Error::from)
            .and_then(|mut conn| {
                let held = hold(&mut conn, &process_id, cache, stop, &mut failing);
                if held.is_ok() {
                    // Stopping: writers need not wait for this process's lease to run out.
                    let _ = leases::release(&mut conn, &process_id);
                }
                held
            });
        let Some(cache) = cache.upgrade() else { return };
        cache.lapse();
        match session {
            Ok(()) => return,
            Err(error) => {
                // Once per outage, not at every retry.
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "no check cache lease: checking tokens in the database until it is back"
                    );
                }
                std::thread::sleep(RETRY);
            }
        }
    }
}

/// One connection's life: claims the lease, then renews it and applies every change.
/// Returns `Ok` when stopped, an error when the connection failed.
fn hold(
    conn: &mut Listener,
    process_id: &str,
    cache: &Weak<CheckCache>,
    stop: &AtomicBool,
    failing: &mut bool,
) -> anyhow::Result<()> {
    // Until claimed and in step with the last change, writers may not have waited for
    // this process: its cache must start over.
    let mut in_step = false;
    let mut next_renewal = Instant::now();
    while !stop.load(Ordering::Acquire) {
        let Some(cache) = cache.upgrade() else {
            return Ok(());
        };
        if leases::received(conn)? {
            slow_down_for_tests();
            catch_up(conn, process_id, &cache)?;
        }
        if Instant::now() >= next_renewal {
            let sent = Instant::now();
            if !in_step {
                claim(conn, process_id, &cache)?;
                tracing::info!("holding the check cache's lease");
                *failing = false;
            } else if !leases::renew(conn, process_id, LEASE)? || !cache.serving() {
                // The lease was gone, or ran out before the renewal arrived: the database
                // may have let writers pass this process by. Claim it afresh.
                cache.lapse();
                in_step = false;
                continue;
            }
            in_step = true;
            cache.hold_until(sent + LEASE - MARGIN);
            next_renewal = sent + RENEW_EVERY;
        }
        drop(cache);
        std::thread::sleep(POLL);
    }
    Ok(())
}

/// Claims the lease (committed first, so every writer from then on waits for this
/// process), then reads the last change and empties the cache: what any change up to it
/// wrote is read afresh, and every later one arrives on the channel.
fn claim(conn: &mut Listener, process_id: &str, cache: &CheckCache) -> anyhow::Result<()> {
    leases::claim(conn, process_id, LEASE)?;
    catch_up(conn, process_id, cache)
}

/// Reads the last committed change, then empties the cache, then acknowledges that change:
/// every change up to it is read afresh. The number is read from the table, never taken
/// from a notice, so a stray `NOTIFY` on the channel can only cause an extra emptying.
fn catch_up(conn: &mut Listener, process_id: &str, cache: &CheckCache) -> anyhow::Result<()> {
    let last = leases::last_change(conn)?;
    cache.forget_all();
    leases::ack(conn, process_id, last)?;
    Ok(())
}

/// Debug builds only: `SESAME_TEST_APPLY_DELAY_MS` delays applying each change, so a test
/// with two processes can see a writer that answered before every process had applied it.
fn slow_down_for_tests() {
    #[cfg(debug_assertions)]
    {
        static DELAY: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
        let delay = DELAY.get_or_init(|| {
            std::env::var("SESAME_TEST_APPLY_DELAY_MS")
                .ok()
                .and_then(|ms| ms.parse().ok())
                .map_or(Duration::ZERO, Duration::from_millis)
        });
        std::thread::sleep(*delay);
    }
}
