//! The session cookie (signed and encrypted), behind typed accessors instead of string keys.

use crate::domain::UserId;
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

const USER_ID: &str = "uid";
const EPOCH: &str = "epoch";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";
/// Unix seconds: when the user signed in, last typed their password, last made a request.
const SIGNED_IN_AT: &str = "signed_in_at";
const AUTH_AT: &str = "auth_at";
const SEEN_AT: &str = "seen_at";

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

    /// Who is signed in, and the session epoch the cookie was issued under.
    pub fn user(&self) -> Option<(String, i64)> {
        let id = self.0.get::<String>(USER_ID).ok().flatten()?;
        let epoch = self.0.get::<i64>(EPOCH).ok().flatten()?;
        Some((id, epoch))
    }

    /// Signs a user in: a new session, a new CSRF token.
    pub fn sign_in(
        &self,
        user_id: &UserId,
        epoch: i64,
        now: NaiveDateTime,
    ) -> Result<(), AppError> {
        self.0.renew();
        self.0.clear();
        self.insert(USER_ID, user_id.as_str())?;
        self.insert(EPOCH, epoch)?;
        let at = now.and_utc().timestamp();
        self.insert(SIGNED_IN_AT, at)?;
        self.insert(AUTH_AT, at)?;
        self.insert(SEEN_AT, at)?;
        self.insert(CSRF, new_csrf_token())
    }

    /// Whether the session is still alive at `now`; if so, notes the request (at most once
    /// a minute, to spare rewriting the cookie on every page).
    pub fn alive(&self, now: NaiveDateTime, idle: Duration, max: Duration) -> bool {
        let get = |key| self.0.get::<i64>(key).ok().flatten();
        let (Some(signed_in), Some(seen)) = (get(SIGNED_IN_AT), get(SEEN_AT)) else {
            return false;
        };
        let now = now.and_utc().timestamp();
        if now - seen > idle.num_seconds() || now - signed_in > max.num_seconds() {
            return false;
        }
        if now - seen >= 60 {
            let _ = self.insert(SEEN_AT, now);
        }
        true
    }

    /// Whether the password was typed within `window` (for sensitive actions).
    pub fn recently_authenticated(&self, now: NaiveDateTime, window: Duration) -> bool {
        self.0
            .get::<i64>(AUTH_AT)
            .ok()
            .flatten()
            .is_some_and(|at| now.and_utc().timestamp() - at <= window.num_seconds())
    }

    pub fn reauthenticated(&self, now: NaiveDateTime) -> Result<(), AppError> {
        self.insert(AUTH_AT, now.and_utc().timestamp())
    }

    /// Forgets everything (the cookie itself stays, for a flash message).
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

    pub fn take_flash(&self) -> Option<Flash> {
        self.0.remove_as::<Flash>(FLASH).and_then(Result::ok)
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
