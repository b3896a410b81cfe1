//! Prometheus metrics, in the text exposition format at `/metrics`: requests by route and
//! status, token checks by outcome, the outbox, notices sent and failed, the pool.
//! Counters only take a read lock and an atomic add on the hot path.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// How an API credential check ended.
#[derive(Debug, Clone, Copy)]
pub enum CheckOutcome {
    Valid,
    Invalid,
    Forbidden,
    Throttled,
    Unavailable,
}

const OUTCOMES: [(CheckOutcome, &str); 5] = [
    (CheckOutcome::Valid, "valid"),
    (CheckOutcome::Invalid, "invalid"),
    (CheckOutcome::Forbidden, "forbidden"),
    (CheckOutcome::Throttled, "throttled"),
    (CheckOutcome::Unavailable, "unavailable"),
];

#[derive(Default)]
pub struct Metrics {
    /// route pattern → status → count
    requests: RwLock<HashMap<String, HashMap<u16, AtomicU64>>>,
    checks: [AtomicU64; 5],
    pub notices_sent: AtomicU64,
    pub notices_failed: AtomicU64,
    pub notices_retried: AtomicU64,
}

/// What is read from elsewhere at scrape time.
pub struct Gauges {
    pub outbox: Vec<(String, i64)>,
    pub pool_connections: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
    /// Whether the API check may answer from this process's cache (PostgreSQL: while it
    /// holds its lease).
    pub check_cache_serving: bool,
}

impl Metrics {
    pub fn request(&self, route: &str, status: u16) {
        if let Ok(requests) = self.requests.read() {
            if let Some(count) = requests
                .get(route)
                .and_then(|by_status| by_status.get(&status))
            {
                count.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        if let Ok(mut requests) = self.requests.write() {
            requests
                .entry(route.to_string())
                .or_default()
                .entry(status)
                .or_default()
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn token_check(&self, outcome: CheckOutcome) {
        self.checks[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text format, one metric family after another.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        self.render_requests(&mut out);
        self.render_checks(&mut out);
        self.render_notices(&mut out, gauges);
        render_pool(&mut out, gauges);
        family(
            &mut out,
            "sesame_check_cache_serving",
            "1 while the token check may answer from this process's cache (PostgreSQL: \
             while the process holds its lease, docs/revocation.md), 0 otherwise.",
            "gauge",
        );
        let _ = writeln!(
            out,
            "sesame_check_cache_serving {}",
            u8::from(gauges.check_cache_serving)
        );
        out
    }

    fn render_requests(&self, out: &mut String) {
        family(
            out,
            "sesame_http_requests_total",
            "HTTP requests by route pattern and status.",
            "counter",
        );
        let Ok(requests) = self.requests.read() else {
            return;
        };
        let mut routes: Vec<_> = requests.iter().collect();
        routes.sort_by(|a, b| a.0.cmp(b.0));
        for (route, by_status) in routes {
            let mut statuses: Vec<_> = by_status.iter().collect();
            statuses.sort_by_key(|(status, _)| **status);
            for (status, count) in statuses {
                let _ = writeln!(
                    out,
                    "sesame_http_requests_total{{route=\"{}\",status=\"{status}\"}} {}",
                    escape(route),
                    count.load(Ordering::Relaxed)
                );
            }
        }
    }

    fn render_checks(&self, out: &mut String) {
        family(
            out,
            "sesame_token_checks_total",
            "API credential checks by outcome.",
            "counter",
        );
        for (outcome, label) in OUTCOMES {
            let _ = writeln!(
                out,
                "sesame_token_checks_total{{outcome=\"{label}\"}} {}",
                self.checks[outcome as usize].load(Ordering::Relaxed)
            );
        }
    }

    fn render_notices(&self, out: &mut String, gauges: &Gauges) {
        family(
            out,
            "sesame_outbox_notices",
            "E-mail notices in the outbox by status.",
            "gauge",
        );
        for status in ["pending", "sending", "sent", "failed"] {
            let count = gauges
                .outbox
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "sesame_outbox_notices{{status=\"{status}\"}} {count}");
        }
        for (name, help, counter) in [
            (
                "sesame_notices_sent_total",
                "E-mail notices sent by this process.",
                &self.notices_sent,
            ),
            (
                "sesame_notices_failed_total",
                "E-mail notices given up by this process.",
                &self.notices_failed,
            ),
            (
                "sesame_notices_retried_total",
                "Failed e-mail attempts to be retried.",
                &self.notices_retried,
            ),
        ] {
            family(out, name, help, "counter");
            let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
        }
    }
}

fn render_pool(out: &mut String, gauges: &Gauges) {
    family(
        out,
        "sesame_db_pool_connections",
        "Database connections by state.",
        "gauge",
    );
    let in_use = gauges.pool_connections.saturating_sub(gauges.pool_idle);
    let _ = writeln!(
        out,
        "sesame_db_pool_connections{{state=\"idle\"}} {}",
        gauges.pool_idle
    );
    let _ = writeln!(
        out,
        "sesame_db_pool_connections{{state=\"in_use\"}} {in_use}"
    );
    family(
        out,
        "sesame_db_pool_max_connections",
        "The pool's size.",
        "gauge",
    );
    let _ = writeln!(out, "sesame_db_pool_max_connections {}", gauges.pool_max);
}

/// A metric family's HELP and TYPE lines.
fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
