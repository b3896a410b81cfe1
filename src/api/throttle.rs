//! Failed-credential throttling per key — a client address, an e-mail address — with GCRA
//! from `governor`.
//!
//! Only presented, wrong credentials count (a request without any, which many clients send
//! first to get the challenge, does not). Once an address is over its limit every attempt
//! from it is refused *before* its credentials are checked, until its allowance recovers:
//! otherwise a success among the refusals would still tell an attacker which guess was
//! right. An IPv6 client counts per /64 (`Client`).

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A client address as the throttles count it: an IPv4 address itself, an IPv6 address
/// by its /64, the block a single subscriber or host is usually given (it could otherwise
/// pick a fresh address for every guess).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client(IpAddr);

impl From<IpAddr> for Client {
    fn from(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Client(IpAddr::V6(prefix.into()))
            }
            v4 => Client(v4),
        }
    }
}

pub struct FailureThrottle<K: Hash + Eq + Clone = Client> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
    /// Keys over the limit, and until when.
    penalty: Mutex<HashMap<K, Instant>>,
    /// Lets the common case (nobody over the limit) skip the lock.
    any_penalty: AtomicBool,
}

impl FailureThrottle<Client> {
    pub fn new(failures_per_minute: NonZeroU32) -> Self {
        Self::with_quota(Quota::per_minute(failures_per_minute))
    }
}

impl<K: Hash + Eq + Clone> FailureThrottle<K> {
    /// At most `failures` per `period`, in a burst or spread out.
    pub fn per_period(failures: NonZeroU32, period: Duration) -> Self {
        let quota = Quota::with_period(period / failures.get())
            .expect("a non-zero period")
            .allow_burst(failures);
        Self::with_quota(quota)
    }

    fn with_quota(quota: Quota) -> Self {
        Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            penalty: Mutex::new(HashMap::new()),
            any_penalty: AtomicBool::new(false),
        }
    }

    /// How long the address must wait, while it is over its limit.
    pub fn blocked(&self, address: &K) -> Option<Duration> {
        if !self.any_penalty.load(Ordering::Relaxed) {
            return None;
        }
        let mut penalty = self.penalty.lock().ok()?;
        let now = Instant::now();
        match penalty.get(address) {
            Some(until) if *until > now => Some(*until - now),
            Some(_) => {
                penalty.remove(address);
                self.any_penalty
                    .store(!penalty.is_empty(), Ordering::Relaxed);
                None
            }
            None => None,
        }
    }

    /// Counts a failed attempt; past the limit, says how long the address must now wait.
    pub fn failure(&self, address: &K) -> Option<Duration> {
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        let not_until = self.limiter.check_key(address).err()?;
        let wait = not_until
            .wait_time_from(self.clock.now())
            .max(Duration::from_secs(1));
        if let Ok(mut penalty) = self.penalty.lock() {
            let now = Instant::now();
            if penalty.len() > 10_000 {
                penalty.retain(|_, until| *until > now);
            }
            penalty.insert(address.clone(), now + wait);
            self.any_penalty.store(true, Ordering::Relaxed);
        }
        Some(wait)
    }

    /// Forgets addresses whose allowance has fully recovered (bounded memory).
    pub fn housekeeping(&self) {
        self.limiter.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_applies_per_address() {
        let throttle = FailureThrottle::new(NonZeroU32::new(3).unwrap());
        let attacker = Client::from("198.51.100.1".parse::<IpAddr>().unwrap());
        let other = Client::from("198.51.100.2".parse::<IpAddr>().unwrap());
        for _ in 0..3 {
            assert_eq!(throttle.failure(&attacker), None);
        }
        assert!(throttle.blocked(&attacker).is_none());
        let wait = throttle
            .failure(&attacker)
            .expect("the fourth failure is over the limit");
        assert!(wait >= Duration::from_secs(1));
        assert!(throttle.blocked(&attacker).is_some());
        assert!(throttle.blocked(&other).is_none());
        assert_eq!(throttle.failure(&other), None);
    }

    #[test]
    fn an_ipv6_client_counts_per_64() {
        let client = |ip: &str| Client::from(ip.parse::<IpAddr>().unwrap());
        assert_eq!(client("2001:db8:1:2::1"), client("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(client("2001:db8:1:2::1"), client("2001:db8:1:3::1"));
        assert_ne!(client("198.51.100.1"), client("198.51.100.2"));
        // An IPv4 client seen over IPv6 counts as its IPv4 address.
        assert_eq!(client("::ffff:198.51.100.1"), client("198.51.100.1"));
    }
}
