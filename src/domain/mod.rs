//! The product's own types: parsed once at the edge, then trusted everywhere. They know
//! nothing of the web or of a database backend (columns map through plain text).

pub mod email;
pub mod ids;
pub mod networks;
pub mod role;
pub mod status;
pub mod token;
pub mod user_agent;

pub use email::EmailAddress;
pub use ids::{AccountId, RecordId, TokenId, UserId};
pub use networks::AllowedNetworks;
pub use role::Role;
pub use status::TokenStatus;
pub use user_agent::{BrowserAndOs, SignInFrom};
