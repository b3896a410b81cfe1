//! Posted HTML forms: size-limited, UTF-8 checked per field, and CSRF-verified before any
//! handler sees them. Taking a `PostedForm` is how a handler accepts a POST.

use crate::auth::session::TypedSession;
use crate::error::AppError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use percent_encoding::percent_decode;
use std::collections::BTreeSet;

pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// Past `MAX_FORM_BYTES` we keep reading up to this, only to find the CSRF field, so an
/// oversized form is answered 422 (not 403) whatever order its fields come in.
const HARD_CAP_BYTES: usize = 1024 * 1024;
pub const CSRF_FIELD: &str = "csrf_token";
/// For an app without state (never in the server, which sets `SESAME_BODY_TIMEOUT_SECS`).
const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

#[derive(Debug, Default)]
pub struct PostedForm {
    fields: Vec<(String, String)>,
    invalid_utf8: BTreeSet<String>,
    /// The body was over `MAX_FORM_BYTES`: only its start was read, and nothing may be saved.
    pub too_large: bool,
}

impl PostedForm {
    /// The field's first value, or "" when absent. Line breaks are `\n` (browsers send
    /// CRLF from a textarea but count it as one character against `maxlength`).
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// Every value of a repeated field (checkboxes), in the order sent.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether the field's bytes were not UTF-8 (its value then holds a lossy copy).
    pub fn invalid_utf8(&self, name: &str) -> bool {
        self.invalid_utf8.contains(name)
    }

    pub fn parse(body: &[u8]) -> Self {
        let mut form = PostedForm::default();
        for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (key, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            let Ok(key) = String::from_utf8(decode(key)) else {
                continue;
            };
            let value = match String::from_utf8(decode(value)) {
                Ok(value) => value,
                Err(e) => {
                    form.invalid_utf8.insert(key.clone());
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                }
            };
            let value = if value.contains('\r') {
                value.replace("\r\n", "\n")
            } else {
                value
            };
            form.fields.push((key, value));
        }
        form
    }
}

fn decode(bytes: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = bytes
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_decode(&spaced).collect()
}

impl FromRequest for PostedForm {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = TypedSession::from_request_sync(req);
        let mut payload = payload.take();
        let timeout = req
            .app_data::<web::Data<AppState>>()
            .map_or(DEFAULT_BODY_TIMEOUT, |state| state.settings.body_timeout);
        let deadline = tokio::time::Instant::now() + timeout;
        Box::pin(async move {
            let mut body = Vec::new();
            loop {
                let next = tokio::time::timeout_at(deadline, payload.next())
                    .await
                    .map_err(|_| AppError::RequestTimeout)?;
                let Some(chunk) = next else { break };
                let chunk = chunk.map_err(|_| {
                    AppError::BadRequest("The request body could not be read.".into())
                })?;
                let room = HARD_CAP_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() >= room {
                    break;
                }
            }
            let parsed = PostedForm::parse(&body);
            session.verify_csrf(parsed.get(CSRF_FIELD))?;
            if body.len() > MAX_FORM_BYTES {
                // Nothing of an oversized form is used: handlers see only `too_large`.
                return Ok(PostedForm {
                    too_large: true,
                    ..PostedForm::default()
                });
            }
            Ok(parsed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_decoded_and_invalid_utf8_is_flagged() {
        let form = PostedForm::parse(b"name=a+b%26c&description=%FF%FE&empty=&flag&name=second");
        assert_eq!(form.get("name"), "a b&c");
        assert!(form.invalid_utf8("description"));
        assert!(!form.invalid_utf8("name"));
        assert_eq!(form.get("empty"), "");
        assert_eq!(form.get("missing"), "");
    }

    #[test]
    fn raw_non_utf8_bytes_are_flagged_too() {
        let form = PostedForm::parse(b"name=caf\xe9");
        assert!(form.invalid_utf8("name"));
    }
}
