//! The product's own types: parsed once at the edge, then trusted everywhere. They know
//! nothing of the web or of a database backend (columns map through plain text).

pub mod email;
pub mod role;
pub mod status;

pub use email::EmailAddress;
pub use role::Role;
pub use status::TokenStatus;
