//! The session's values (kept in the database, see `auth::store`), behind typed accessors
//! instead of string keys.

use crate::client_ip::ClientIp;
use crate::domain::{BrowserAndOs, SignInFrom, UserId};
use crate::error::AppError;
use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use base64::Engine;
use chrono::{Duration, NaiveDateTime};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::future::{ready, Ready};
use subtle::ConstantTimeEq;

/// The names of the session's values. The store (`auth::store`) reads the sign-in's
/// values into its row, and acts on `ROTATE`.
pub(crate) mod keys {
    pub const USER_ID: &str = "uid";
    /// The session's public id (its row's), put in by the store when it loads the session.
    pub const SESSION_ID: &str = "sid";
    /// The SHA-256 of the session's key (hex), put in by the store: `Claim` finds the
    /// session's row by it. Never stored.
    pub const KEY_HASH: &str = "key_hash";
    pub const CSRF: &str = "csrf";
    pub const FLASH: &str = "flash";
    /// Unix seconds: when the user signed in, and last typed their password.
    pub const SIGNED_IN_AT: &str = "signed_in_at";
    pub const AUTH_AT: &str = "auth_at";
    /// Where the sign-in came from, for the user's list of sessions.
    pub const IP: &str = "ip";
    pub const BROWSER: &str = "browser";
    pub const OS: &str = "os";
    /// Asks the store for a new key (sudo confirmed).
    pub const ROTATE: &str = "rotate";
}
use keys::*;

impl FromRequest for SignInFrom {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        ready(Ok(SignInFrom {
            ip: ClientIp::for_request(req).text(),
            device: BrowserAndOs::from_user_agent(agent),
        }))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
}

impl FlashKind {
    pub fn css(self) -> &'static str {
        match self {
            FlashKind::Success => "success",
            FlashKind::Error => "error",
        }
    }
}

pub struct TypedSession(Session);

impl TypedSession {
    pub fn from_request_sync(req: &HttpRequest) -> Self {
        Self(req.get_session())
    }

    /// Who is signed in (the store has checked that the session is alive).
    pub fn user(&self) -> Option<UserId> {
        self.0
            .get::<String>(USER_ID)
            .ok()
            .flatten()
            .map(UserId::from)
    }

    /// The hash of this session's key, by which its row is found (see `keys::KEY_HASH`).
    pub fn key_hash(&self) -> Option<Vec<u8>> {
        let text = self.0.get::<String>(KEY_HASH).ok().flatten()?;
        hex::decode(text).ok()
    }

    /// This session's public id (not its key), once it is stored.
    pub fn id(&self) -> Option<String> {
        self.0.get::<String>(SESSION_ID).ok().flatten()
    }

    /// Signs a user in: a new session under a new key, a new CSRF token.
    pub fn sign_in(
        &self,
        user_id: &UserId,
        now: NaiveDateTime,
        from: &SignInFrom,
    ) -> Result<(), AppError> {
        self.0.renew();
        self.0.clear();
        self.insert(USER_ID, user_id.as_str())?;
        let at = now.and_utc().timestamp();
        self.insert(SIGNED_IN_AT, at)?;
        self.insert(AUTH_AT, at)?;
        self.insert(IP, &from.ip)?;
        self.insert(BROWSER, from.device.browser)?;
        self.insert(OS, from.device.os)?;
        self.insert(CSRF, new_csrf_token())
    }

    /// Whether the password was typed within `window` (for sensitive actions).
    pub fn recently_authenticated(&self, now: NaiveDateTime, window: Duration) -> bool {
        self.0
            .get::<i64>(AUTH_AT)
            .ok()
            .flatten()
            .is_some_and(|at| now.and_utc().timestamp() - at <= window.num_seconds())
    }

    /// The password was typed again: noted, and the session moves to a new key.
    pub fn reauthenticated(&self, now: NaiveDateTime) -> Result<(), AppError> {
        self.insert(AUTH_AT, now.and_utc().timestamp())?;
        self.insert(ROTATE, true)
    }

    /// Ends this session (its row goes); a new, empty one carries a flash message.
    pub fn sign_out(&self) {
        self.0.clear();
        self.0.renew();
    }

    /// The session's CSRF token, made on first use (an anonymous session gets one too,
    /// so the sign-in and setup forms are protected).
    pub fn csrf_token(&self) -> Result<String, AppError> {
        if let Some(token) = self.0.get::<String>(CSRF).ok().flatten() {
            return Ok(token);
        }
        let token = new_csrf_token();
        self.insert(CSRF, &token)?;
        Ok(token)
    }

    pub fn verify_csrf(&self, presented: &str) -> Result<(), AppError> {
        let expected = self
            .0
            .get::<String>(CSRF)
            .ok()
            .flatten()
            .ok_or(AppError::Csrf)?;
        if !presented.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
            Ok(())
        } else {
            Err(AppError::Csrf)
        }
    }

    pub fn flash(&self, kind: FlashKind, message: impl Into<String>) -> Result<(), AppError> {
        self.insert(
            FLASH,
            Flash {
                kind,
                message: message.into(),
            },
        )
    }

    /// The message for this page, if any. Only a session holding one is changed (and so
    /// written back): every page asks.
    pub fn take_flash(&self) -> Option<Flash> {
        let flash = self.0.get::<Flash>(FLASH).ok().flatten()?;
        self.0.remove(FLASH);
        Some(flash)
    }

    fn insert(&self, key: &str, value: impl Serialize) -> Result<(), AppError> {
        self.0
            .insert(key, value)
            .map_err(|e| AppError::internal(format!("session: {e}")))
    }
}

fn new_csrf_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl FromRequest for TypedSession {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::from_request_sync(req)))
    }
}
