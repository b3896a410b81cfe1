//! People's sign-in: passwords, the typed session, and the role guards every handler uses.

pub mod device;
pub mod guards;
pub mod lockout;
pub mod one_time;
pub mod password;
pub mod session;
pub mod store;
pub mod sudo;
