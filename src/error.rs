//! One error type for the web layer, and how each kind answers.
//!
//! Policy: the user's mistake gets a clear message and a 4xx; a database that cannot be
//! reached answers 503; anything else is logged and answers a plain 500 with no details.

use crate::views::ErrorPage;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("sign in to continue")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("the form expired or did not come from this site; reload the page and try again")]
    Csrf,
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(&'static str),
    #[error("{0}")]
    BadRequest(String),
    /// The request body did not arrive within `Settings::body_timeout`; the connection closes.
    #[error("the request took too long to arrive; try again")]
    RequestTimeout,
    #[error("the database is unavailable; try again shortly")]
    Unavailable,
    /// Never shown to users; the cause, with its chain, goes to the log.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn internal(
        detail: impl std::fmt::Display + std::fmt::Debug + Send + Sync + 'static,
    ) -> Self {
        AppError::Internal(anyhow::Error::msg(detail))
    }

    /// For the operator (the command line, the scheduler's log): an internal error's
    /// own cause and its chain; any other kind is its message.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            AppError::Internal(cause) => cause,
            other => anyhow::Error::msg(other.to_string()),
        }
    }

    pub fn not_found() -> Self {
        AppError::NotFound("There is nothing here, or it belongs to another account.")
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => AppError::not_found(),
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => AppError::Unavailable,
            Error::DatabaseError(_, info) if info.message().contains("database is locked") => {
                AppError::Unavailable
            }
            other => AppError::Internal(anyhow::Error::new(other).context("database")),
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated => StatusCode::SEE_OTHER,
            AppError::Forbidden(_) | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            AppError::Unauthenticated => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, "/login"))
                    .finish()
            }
            AppError::Internal(cause) => {
                tracing::error!(detail = format!("{cause:#}"), "request failed")
            }
            _ => {}
        }
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message: self.to_string(),
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            AppError::Unavailable => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            AppError::RequestTimeout => {
                response.force_close();
            }
            _ => {}
        }
        match page.render() {
            Ok(html) => response.content_type("text/html; charset=utf-8").body(html),
            Err(_) => response
                .content_type("text/plain; charset=utf-8")
                .body(self.to_string()),
        }
    }
}
