//! Tokens at work: secrets, lifetimes, the API check and its cache, and the lists.

pub mod basic;
pub mod check_cache;
pub mod checker;
pub mod directory;
pub mod expiry;
pub mod lease;
pub mod lists;
pub mod password_format;
pub mod secret;
pub mod summary;
pub mod usage;
pub mod verify;
