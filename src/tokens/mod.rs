//! The token domain: secrets, allowed networks, lifetimes, and the form that makes them.

pub mod basic;
pub mod check_cache;
pub mod checker;
pub mod directory;
pub mod expiry;
pub mod input;
pub mod lists;
pub mod networks;
pub mod secret;
pub mod summary;
pub mod verify;
