//! One error type for the application. How each kind answers over HTTP is decided at the
//! edge (`views`), so this module knows nothing of the web.
//!
//! Policy: the user's mistake gets a clear message and a 4xx; a database that cannot be
//! reached answers 503; anything else is logged and answers a plain 500 with no details.

use crate::db::{DbError, TaskError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("sign in to continue")]
    Unauthenticated,
    /// Not signed in on a page the user was going to: after signing in they land there.
    /// Holds the request's path and query, as sent.
    #[error("sign in to continue")]
    SignInFirst(String),
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
        DbError::from(error).into()
    }
}

impl From<DbError> for AppError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable => AppError::Unavailable,
            DbError::Query(diesel::result::Error::NotFound) => AppError::not_found(),
            other => AppError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl TaskError for AppError {
    fn is_unavailable(&self) -> bool {
        matches!(self, AppError::Unavailable)
    }
}
