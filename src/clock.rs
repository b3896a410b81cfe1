//! The one source of "now", so tests can move time without sleeping.

use chrono::{DateTime, Duration, NaiveDateTime, SubsecRound, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub trait Clock: Send + Sync + 'static {
    fn now_utc(&self) -> DateTime<Utc>;

    /// Now as stored in the database: UTC, millisecond precision (SQLite's own
    /// `YYYY-MM-DD HH:MM:SS.fff` form; PostgreSQL keeps it exactly).
    fn now(&self) -> NaiveDateTime {
        self.now_utc().naive_utc().trunc_subsecs(3)
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_utc(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The wall clock plus an offset that tests move forward.
#[derive(Default)]
pub struct TestClock {
    offset_seconds: AtomicI64,
}

impl TestClock {
    pub fn advance(&self, by: Duration) {
        self.offset_seconds
            .fetch_add(by.num_seconds(), Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_utc(&self) -> DateTime<Utc> {
        Utc::now() + Duration::seconds(self.offset_seconds.load(Ordering::SeqCst))
    }
}
