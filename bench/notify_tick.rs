//! The scheduler's reminder pass at scale: 1,000,000 tokens in SQLite of which exactly
//! 10,000 fall within 48 hours of expiry. Prints how long one pass takes to queue them and
//! how much the process grew meanwhile (memory is bounded by the batch, not the table).
//!
//! cargo run --release --example bench-notify [-- TOKENS DUE]

use chrono::Duration;
use diesel::connection::SimpleConnection;
use sesame::clock::{Clock, SystemClock};
use sesame::config::Settings;
use sesame::keys::ServerKey;
use sesame::notify::mailer::Mailer;
use sesame::notify::scheduler::Notifier;
use sesame::tokens::secret::TokenCrypto;
use std::sync::Arc;
use std::time::Instant;

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .map(|v| v.trim().trim_end_matches(" kB").parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// The commit measured (`git rev-parse --short HEAD`, `-dirty` with uncommitted changes).
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    match git(&["status", "--porcelain"]) {
        Some(changes) if !changes.is_empty() => format!("{head}-dirty"),
        _ => head,
    }
}

fn main() -> anyhow::Result<()> {
    println!("bench-notify, commit {}", commit());
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (tokens, due) = (
        args.first().copied().unwrap_or(1_000_000),
        args.get(1).copied().unwrap_or(10_000),
    );
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().to_string_lossy().into_owned();
    let settings = Settings::from_lookup(|name| match name {
        "SESAME_DATA_DIR" => Some(data_dir.clone()),
        _ => None,
    })?;
    let pool = sesame::db::connect(&settings.database_url)?;
    let crypto = TokenCrypto::new(&ServerKey::load_or_generate(&settings)?);
    let now = SystemClock.now();

    let started = Instant::now();
    sesame::seed::seed(&mut *pool.get()?, &crypto, "Bench", tokens, now)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "seeded {tokens} tokens in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Exactly `due` active tokens within 48 hours; every other active one well outside.
    let in_a_day = (now + Duration::hours(24)).format("%Y-%m-%d %H:%M:%S");
    let in_a_month = (now + Duration::days(30)).format("%Y-%m-%d %H:%M:%S");
    let window = (now + Duration::hours(48)).format("%Y-%m-%d %H:%M:%S");
    pool.get()?.batch_execute(&format!(
        "UPDATE api_tokens SET expires_at = '{in_a_month}' \
           WHERE revoked_at IS NULL AND expires_at > datetime('now') AND expires_at <= '{window}';
         UPDATE api_tokens SET expires_at = '{in_a_day}' WHERE id IN (
           SELECT id FROM api_tokens WHERE revoked_at IS NULL AND expires_at > datetime('now') LIMIT {due});
         ANALYZE;"
    ))?;

    let mailer = Mailer::from_settings(&settings)?;
    let notifier = Notifier::new(
        pool.clone(),
        mailer,
        Arc::new(SystemClock),
        settings.base_url.clone(),
    );
    let mut conn = pool.get()?;
    // Reset the peak, so it measures this pass alone (Linux: "5" resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = rss_kib("VmRSS:");
    let started = Instant::now();
    let queued = notifier
        .queue_reminders(&mut conn)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let elapsed = started.elapsed();
    let hwm = rss_kib("VmHWM:");
    println!(
        "one reminder pass: queued {queued} of {tokens} tokens in {:.2} s; RSS before {} MiB, peak during the pass {} MiB",
        elapsed.as_secs_f64(),
        rss_before / 1024,
        hwm / 1024
    );
    let again = Instant::now();
    let requeued = notifier
        .queue_reminders(&mut conn)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "the next pass: queued {requeued} in {:.3} s",
        again.elapsed().as_secs_f64()
    );
    anyhow::ensure!(queued == due && requeued == 0, "expected {due} then 0");
    Ok(())
}
