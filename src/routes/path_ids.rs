//! Ids in paths and forms (tokens, users, notices, links) are UUIDs: anything else is
//! simply not found, and never reaches the database.

use crate::domain::RecordId;
use crate::error::AppError;
use actix_web::web;

/// The one id of a path.
pub fn path_id<I: RecordId>(path: web::Path<String>) -> Result<I, AppError> {
    parse_id(&path.into_inner())
}

/// One id of a path with several, or of a form field.
pub fn parse_id<I: RecordId>(raw: &str) -> Result<I, AppError> {
    I::parse(raw).ok_or_else(AppError::not_found)
}
