//! `POST /api/v1/leaks`: GitHub's secret-scanning partner protocol. The body is a JSON list
//! of `{"token","type","url","source"}`; the answer a JSON list of
//! `{"token_raw","token_type","label"}`. A live password revokes its token at once
//! (`services::leaks`). With `SESAME_LEAK_REPORT_KEYS_FILE` set, a report must be signed.

use super::api_errors::{error, throttled, unavailable};
use crate::api::throttle::Client;
use crate::client_ip::ClientIp;
use crate::services::leaks::Reported;
use crate::state::AppState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

/// The largest body read; longer answers 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most entries in one report; more answers 422.
pub const MAX_ENTRIES: usize = 1000;

#[derive(Deserialize)]
struct Entry {
    token: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    source: String,
}

#[derive(Serialize)]
struct Answer<'a> {
    token_raw: &'a str,
    token_type: &'a str,
    label: &'static str,
}

pub async fn report(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ip = ClientIp::for_request(&req).0;
    if let Some(refused) = throttle(&state, ip) {
        return refused;
    }
    let body = match read_body(&req, payload, state.settings.body_timeout).await {
        Ok(body) => body,
        Err(status) => return body_error(status),
    };
    if let Some(refused) = check_signature(&state, &req, &body) {
        return refused;
    }
    let entries = match parse(&body) {
        Ok(entries) => entries,
        Err((status, code, message)) => return error(status, code, message),
    };
    let reports = entries
        .iter()
        .map(|entry| Reported {
            token: entry.token.clone(),
            url: entry.url.clone(),
            source: entry.source.clone(),
        })
        .collect();
    let verdicts = match state
        .leaks
        .report(reports, ip.map(|ip| ip.to_string()))
        .await
    {
        Ok(verdicts) => verdicts,
        Err(e) => {
            tracing::error!(error = %e, "a leak report could not be judged");
            return unavailable();
        }
    };
    let answer: Vec<Answer> = entries
        .iter()
        .zip(&verdicts)
        .map(|(entry, verdict)| Answer {
            token_raw: &entry.token,
            token_type: &entry.kind,
            label: verdict.label(),
        })
        .collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(answer)
}

/// 429 once the address has sent too many reports. Every report counts, signed or not,
/// valid or not.
fn throttle(state: &AppState, ip: Option<std::net::IpAddr>) -> Option<HttpResponse> {
    let client = Client::from(ip?);
    let wait = state
        .leak_reports
        .blocked(&client)
        .or_else(|| state.leak_reports.failure(&client))?;
    Some(throttled(
        wait,
        "too_many_reports",
        "Too many leak reports from your address; retry later.",
    ))
}

/// 401 unless the report is signed by a listed key, when keys are set.
fn check_signature(state: &AppState, req: &HttpRequest, body: &[u8]) -> Option<HttpResponse> {
    let keys = state.leak_keys.as_ref()?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let signed = match (
        header("Github-Public-Key-Identifier"),
        header("Github-Public-Key-Signature"),
    ) {
        (Some(identifier), Some(signature)) => keys.verify(identifier, signature, body),
        _ => false,
    };
    (!signed).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "The report must be signed: Github-Public-Key-Identifier and Github-Public-Key-Signature.",
        )
    })
}

/// Why a report's body is refused: status, code, message (`api_errors::error`).
type Refusal = (StatusCode, &'static str, &'static str);

/// The entries: not JSON is 400; JSON of another shape, or too many entries, 422.
fn parse(body: &[u8]) -> Result<Vec<Entry>, Refusal> {
    let entries: Vec<Entry> = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_report",
                "Expected a JSON list of {\"token\", \"type\", \"url\", \"source\"}.",
            )
        } else {
            (StatusCode::BAD_REQUEST, "bad_json", "The body is not JSON.")
        }
    })?;
    if entries.len() > MAX_ENTRIES {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_entries",
            "A report holds at most 1,000 entries.",
        ));
    }
    Ok(entries)
}

/// The raw body (the signature covers its exact bytes): at most `MAX_BODY_BYTES`, and
/// complete within the body timeout.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    timeout: std::time::Duration,
) -> Result<Vec<u8>, StatusCode> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut body = Vec::new();
    loop {
        let next = tokio::time::timeout_at(deadline, payload.next())
            .await
            .map_err(|_| StatusCode::REQUEST_TIMEOUT)?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|_| StatusCode::BAD_REQUEST)?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn body_error(status: StatusCode) -> HttpResponse {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => error(status, "too_large", "A report is at most 1 MiB."),
        StatusCode::REQUEST_TIMEOUT => {
            let mut response = error(status, "timeout", "The body did not arrive in time.");
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
        _ => error(status, "bad_body", "The request body could not be read."),
    }
}
