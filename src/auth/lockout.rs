//! The sign-in lockout: failed passwords are counted per e-mail address and per client
//! address, except from a browser holding a device cookie for the address typed, whose
//! failures are counted for that browser alone (see `device`). So a guesser elsewhere can
//! lock out an address, but not its owner's own browsers. Sudo prompts count the same way.

use super::device::{Device, DeviceCookies, DEVICE_COOKIE};
use crate::api::throttle::{Client, FailureThrottle};
use actix_web::HttpRequest;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

const WINDOW: Duration = Duration::from_secs(15 * 60);

pub struct SigninLimits {
    by_email: FailureThrottle<String>,
    by_address: FailureThrottle,
    by_device: FailureThrottle<Device>,
    pub devices: DeviceCookies,
}

/// One sign-in or sudo attempt: who it claims to be, from where, with which browser.
pub struct Attempt {
    email: String,
    client: Option<Client>,
    /// Set when the browser holds a valid device cookie for `email`.
    device: Option<Device>,
}

impl SigninLimits {
    /// `failures` per address per 15 minutes; five times as many per client address; the
    /// same number per trusted browser.
    pub fn new(failures: NonZeroU32, devices: DeviceCookies) -> Self {
        Self {
            by_email: FailureThrottle::per_period(failures, WINDOW),
            by_address: FailureThrottle::per_period(
                failures.saturating_mul(NonZeroU32::new(5).expect("5")),
                WINDOW,
            ),
            by_device: FailureThrottle::per_period(failures, WINDOW),
            devices,
        }
    }

    pub fn attempt(&self, req: &HttpRequest, email: &str, ip: Option<IpAddr>) -> Attempt {
        let device = req
            .cookie(DEVICE_COOKIE)
            .and_then(|cookie| self.devices.verify(cookie.value(), email));
        Attempt {
            email: email.to_string(),
            client: ip.map(Client::from),
            device,
        }
    }

    /// A sudo prompt: the session already proves this browser signed in as the user, so
    /// it is counted like a trusted browser (a guesser elsewhere cannot block it, and a
    /// stolen session gets the same 10 guesses per 15 minutes).
    pub fn signed_in(&self, user_id: &str) -> Attempt {
        Attempt {
            email: String::new(),
            client: None,
            device: Some(Device::session(user_id)),
        }
    }

    /// How long the attempt must wait, if it is locked out.
    pub fn blocked(&self, attempt: &Attempt) -> Option<Duration> {
        match &attempt.device {
            Some(device) => self.by_device.blocked(device),
            None => self.by_email.blocked(&attempt.email).or_else(|| {
                attempt
                    .client
                    .as_ref()
                    .and_then(|c| self.by_address.blocked(c))
            }),
        }
    }

    /// Counts a wrong password; the wait, if this one reached a limit.
    pub fn failure(&self, attempt: &Attempt) -> Option<Duration> {
        match &attempt.device {
            Some(device) => self.by_device.failure(device),
            None => {
                let by_email = self.by_email.failure(&attempt.email);
                let by_address = attempt
                    .client
                    .as_ref()
                    .and_then(|c| self.by_address.failure(c));
                by_email.or(by_address)
            }
        }
    }
}
