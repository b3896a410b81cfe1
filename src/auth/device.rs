//! OWASP's "device cookie": a browser that once signed in as an address keeps a signed,
//! long-lived cookie for it. Guesses from elsewhere lock the address out (the per-address
//! lockout), but never its owner's own browsers: a browser holding a valid device cookie
//! for the address it signs in as is limited by a count of its own instead. The cookie
//! survives signing out; it proves only "this browser signed in as this address before".

use actix_web::cookie::{Cookie, SameSite};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

pub const DEVICE_COOKIE: &str = "sesame_device";
const LIFETIME_DAYS: i64 = 365;

pub struct DeviceCookies {
    key: [u8; 32],
}

/// A browser trusted for one address, named by its cookie's random nonce (the key of its
/// own failure count).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Device(String);

impl Device {
    /// A signed-in session of the user, counted like a trusted browser.
    pub fn session(user_id: &str) -> Self {
        Device(format!("session:{user_id}"))
    }
}

impl DeviceCookies {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// A fresh cookie for a browser that just signed in as `email`. The address is not in
    /// the cookie: only a MAC over it, checked against the address typed next time.
    pub fn issue(&self, email: &str, https: bool) -> Cookie<'static> {
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let nonce = URL_SAFE_NO_PAD.encode(nonce);
        let value = format!(
            "{nonce}.{}",
            URL_SAFE_NO_PAD.encode(self.mac(&nonce, email))
        );
        Cookie::build(DEVICE_COOKIE, value)
            .path("/")
            .http_only(true)
            .secure(https)
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::days(LIFETIME_DAYS))
            .finish()
    }

    /// The device, when `value` is a cookie this server issued for `email`.
    pub fn verify(&self, value: &str, email: &str) -> Option<Device> {
        let (nonce, mac) = value.split_once('.')?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let mut check = self.hmac();
        check.update(&Self::message(nonce, email));
        // Constant time (hmac's verify).
        check.verify_slice(&mac).ok()?;
        Some(Device(nonce.to_string()))
    }

    fn mac(&self, nonce: &str, email: &str) -> Vec<u8> {
        let mut mac = self.hmac();
        mac.update(&Self::message(nonce, email));
        mac.finalize().into_bytes().to_vec()
    }

    fn hmac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    fn message(nonce: &str, email: &str) -> Vec<u8> {
        [nonce.as_bytes(), b"\0", email.as_bytes()].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_valid_only_for_its_address_and_key() {
        let cookies = DeviceCookies::new([7; 32]);
        let cookie = cookies.issue("ann@x.test", false);
        assert!(cookies.verify(cookie.value(), "ann@x.test").is_some());
        assert!(cookies.verify(cookie.value(), "bob@x.test").is_none());
        assert!(DeviceCookies::new([8; 32])
            .verify(cookie.value(), "ann@x.test")
            .is_none());
        let (nonce, _) = cookie.value().split_once('.').unwrap();
        assert!(cookies
            .verify(&format!("{nonce}.AAAA"), "ann@x.test")
            .is_none());
        assert!(cookies.verify("garbage", "ann@x.test").is_none());
    }
}
