//! The token API: `GET /api/v1/whoami` and the forward-auth check `GET /api/v1/auth`
//! (leak reports, `POST /api/v1/leaks`, are `routes::leaks`).
//! Expiry is evaluated on every request. The check reads the process's check cache, which
//! every token write empties once it has committed: on SQLite the one process's, on
//! PostgreSQL every live process's before the write answers (`tokens::check_cache`,
//! docs/revocation.md). Either way a revoke is effective for the very next request.

use super::api_errors::{error, throttled, unavailable};
use crate::api::throttle::Client;
use crate::client_ip::ClientIp;
use crate::metrics::CheckOutcome;
use crate::state::AppState;
use crate::tokens::basic;
use crate::tokens::usage::Outcome;
use crate::tokens::verify::{Checked, Snapshot};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

pub fn configure(cfg: &mut web::ServiceConfig) {
    use super::endpoint::{Answer, Endpoint};
    Endpoint::at("/whoami")
        .get(whoami)
        .register(cfg, Answer::Json);
    Endpoint::at("/auth")
        .get(forward_auth)
        .register(cfg, Answer::Json);
    Endpoint::at("/leaks")
        .post(super::leaks::report)
        .register(cfg, Answer::Json);
    cfg.default_service(web::to(|| async {
        error(StatusCode::NOT_FOUND, "not_found", "No such API endpoint.")
    }));
}

/// Why a request was refused. Every credential problem is the same `Unauthorized`.
enum Denial {
    Unauthorized,
    Forbidden,
    Throttled(Duration),
    Unavailable,
}

async fn authenticate(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Arc<Snapshot>, Denial> {
    let result = check(req, state).await;
    state.metrics.token_check(match &result {
        Ok(_) => CheckOutcome::Valid,
        Err(Denial::Unauthorized) => CheckOutcome::Invalid,
        Err(Denial::Forbidden) => CheckOutcome::Forbidden,
        Err(Denial::Throttled(_)) => CheckOutcome::Throttled,
        Err(Denial::Unavailable) => CheckOutcome::Unavailable,
    });
    result
}

async fn check(req: &HttpRequest, state: &web::Data<AppState>) -> Result<Arc<Snapshot>, Denial> {
    let ip = ClientIp::for_request(req).0;
    let client = ip.map(Client::from);
    let now = state.clock.now();
    // No credentials at all asks for the challenge (many clients do that first): it is
    // answered, not counted. Malformed ones count as wrong.
    let presented = req.headers().get(header::AUTHORIZATION);
    let credentials = presented.and_then(|p| basic::parse(p.as_bytes()));
    if let Some(wait) = client.and_then(|c| state.throttle.blocked(&c)) {
        let known = credentials
            .as_ref()
            .and_then(|c| state.checker.cached(c.username()));
        if let Some(snapshot) = known {
            state.recorder.count(&snapshot, now, Outcome::Throttled);
        }
        return Err(Denial::Throttled(wait));
    }
    let failed = || match client.and_then(|c| state.throttle.failure(&c)) {
        Some(wait) => Denial::Throttled(wait),
        None => Denial::Unauthorized,
    };
    if presented.is_none() {
        return Err(Denial::Unauthorized);
    }
    let Some(credentials) = credentials else {
        return Err(failed());
    };
    let checked = state
        .checker
        .check(credentials, now)
        .await
        .map_err(|_| Denial::Unavailable)?;
    let identity = match checked {
        Checked::Accepted(identity) => identity,
        Checked::Refused(snapshot, outcome) => {
            state.recorder.count(&snapshot, now, outcome);
            return Err(failed());
        }
        Checked::Unknown => return Err(failed()),
    };
    if !identity.allows(ip) {
        state
            .recorder
            .count(&identity, now, Outcome::OutsideNetworks);
        state.recorder.outside_whitelist(
            &identity.token_id,
            &identity.token_name,
            &identity.account_id,
            ip,
            now,
        );
        return Err(Denial::Forbidden);
    }
    state.recorder.count(&identity, now, Outcome::Accepted);
    state
        .recorder
        .used(&identity.token_id, identity.last_used_at, ip, now);
    Ok(identity)
}

#[derive(Serialize)]
struct WhoAmI<'a> {
    token: TokenJson<'a>,
    account: AccountJson<'a>,
}

#[derive(Serialize)]
struct TokenJson<'a> {
    id: &'a str,
    name: &'a str,
    username: &'a str,
    expires_at: &'a str,
}

#[derive(Serialize)]
struct AccountJson<'a> {
    id: &'a str,
    name: &'a str,
}

pub async fn whoami(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match authenticate(&req, &state).await {
        Ok(identity) => {
            let body = WhoAmI {
                token: TokenJson {
                    id: identity.token_id.as_str(),
                    name: &identity.token_name,
                    username: &identity.username,
                    expires_at: &identity.expires_at_rfc3339,
                },
                account: AccountJson {
                    id: identity.account_id.as_str(),
                    name: &identity.account_name,
                },
            };
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
                .json(body)
        }
        Err(denial) => refuse(denial),
    }
}

/// For a reverse proxy's auth sub-request: 204 with who the caller is, or 401/403/429.
pub async fn forward_auth(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match authenticate(&req, &state).await {
        Ok(identity) => HttpResponse::NoContent()
            .insert_header(("X-Sesame-Token-Id", identity.token_id.as_str()))
            .insert_header(("X-Sesame-Account-Id", identity.account_id.as_str()))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .finish(),
        Err(denial) => refuse(denial),
    }
}

fn refuse(denial: Denial) -> HttpResponse {
    match denial {
        Denial::Unauthorized => {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "The credentials are missing, wrong, expired or revoked.",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Sesame\""),
            );
            response
        }
        Denial::Forbidden => error(
            StatusCode::FORBIDDEN,
            "address_not_allowed",
            "This token may not be used from your address.",
        ),
        Denial::Throttled(wait) => throttled(
            wait,
            "too_many_failures",
            "Too many failed attempts from your address; retry later.",
        ),
        Denial::Unavailable => unavailable(),
    }
}
