//! The product's rules for changing things. Each operation takes one owned command value
//! and does, in one transaction, the account lock, the rules, the audit entry and the
//! notice; token writes also empty the API check's cache as part of committing
//! (`db::token_writes`). Handlers parse a request, call one operation, and render.

pub mod actor;
pub mod handoffs;
pub mod people;
pub mod tokens;
