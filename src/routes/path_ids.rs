//! Ids in paths (tokens, users, notices, links) are UUIDs: anything else is simply not
//! found, and never reaches the database (PostgreSQL would refuse a NUL byte with an error).

use crate::error::AppError;
use actix_web::web;

/// The one id of a path.
pub fn path_id(path: web::Path<String>) -> Result<String, AppError> {
    parse_id(&path.into_inner())
}

/// One id of a path with several, or of a form field.
pub fn parse_id(raw: &str) -> Result<String, AppError> {
    uuid::Uuid::parse_str(raw)
        .map(|id| id.to_string())
        .map_err(|_| AppError::not_found())
}
