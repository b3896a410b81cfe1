//! The API's answers that are not its data: JSON errors, 429 and 503 with when to retry.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;
use std::time::Duration;

/// 429 with when to retry.
pub fn throttled(wait: Duration, code: &'static str, message: &'static str) -> HttpResponse {
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, code, message);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(wait.as_secs_f64().ceil() as u64),
    );
    response
}

/// The API's JSON error: `{"error": code, "message": …}`, never cached.
pub fn error(status: StatusCode, code: &'static str, message: &'static str) -> HttpResponse {
    #[derive(Serialize)]
    struct Body {
        error: &'static str,
        message: &'static str,
    }
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(Body {
            error: code,
            message,
        })
}

/// 503: the database is out of reach; try again in a few seconds.
pub fn unavailable() -> HttpResponse {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "The service is temporarily unavailable.",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}
