//! What counting a call costs the token check: `UsageCounter::count` against the check's
//! own password comparison (`TokenCrypto::verify`, HMAC-SHA-256), each timed in this run, on
//! one thread and on two at once (the server's two workers share one counter). The check
//! does the comparison and much more (HTTP, the cache, the networks), so count / verify
//! bounds the share counting adds from above.
//!
//! cargo run --release --example bench-usage [-- CALLS]

use sesame::clock::{Clock, SystemClock};
use sesame::domain::{AccountId, TokenId};
use sesame::keys::ServerKey;
use sesame::tokens::secret::{generate_password, TokenCrypto};
use sesame::tokens::usage::{Outcome, UsageCounter};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

/// Nanoseconds per call of `work(i)`, on `threads` threads at once, `calls` calls each.
fn per_call(threads: usize, calls: usize, work: Arc<dyn Fn(usize) + Send + Sync>) -> f64 {
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let work = work.clone();
            std::thread::spawn(move || (0..calls).for_each(|i| work(t * calls + i)))
        })
        .collect();
    for handle in handles {
        handle.join().expect("a bench thread");
    }
    // Wall time per call on each thread: what a request waits, contention included.
    started.elapsed().as_nanos() as f64 / calls as f64
}

fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let account = AccountId::generate();
    let tokens: Arc<Vec<TokenId>> = Arc::new((0..1000).map(|_| TokenId::generate()).collect());
    let now = SystemClock.now();
    let counter = Arc::new(UsageCounter::default());
    let count: Arc<dyn Fn(usize) + Send + Sync> = {
        let (counter, tokens, account) = (counter.clone(), tokens.clone(), account.clone());
        Arc::new(move |i| {
            counter.count(&tokens[i % tokens.len()], &account, now, Outcome::Accepted)
        })
    };
    let crypto = Arc::new(TokenCrypto::new(&ServerKey::from_secret(
        b"bench-usage-key",
    )));
    let password = generate_password();
    let stored = crypto.hash(password.expose());
    let verify: Arc<dyn Fn(usize) + Send + Sync> = {
        let password = password.expose().to_string();
        Arc::new(move |_| {
            black_box(crypto.verify(black_box(&password), black_box(&stored)));
        })
    };
    // Warm up both (the counter's first call per token allocates its entry).
    per_call(1, 10_000, count.clone());
    per_call(1, 10_000, verify.clone());
    let verify_calls = calls / 10;
    println!("calls timed: {calls} counts and {verify_calls} password comparisons a thread; 1,000 tokens");
    println!();
    println!("| threads | count, ns a call | verify, ns a call | count / verify |");
    println!("|---|---|---|---|");
    for threads in [1, 2] {
        let c = per_call(threads, calls, count.clone());
        let v = per_call(threads, verify_calls, verify.clone());
        println!("| {threads} | {c:.1} | {v:.1} | {:.2} % |", 100.0 * c / v);
    }
    let held: i64 = counter.take().iter().map(|row| row.tally.accepted).sum();
    assert!(held > 0, "the counts were kept");
}
