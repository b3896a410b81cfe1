//! Integration tests: the app over real HTTP on port 0, one temporary data directory each.

mod authorization;
mod binary;
mod browser;
mod csrf_and_escaping;
mod email;
mod faults;
mod handoff;
mod helpers;
mod hostile;
mod operations;
mod page_costs;
mod properties;
mod proxy;
mod review;
mod scale;
mod schema;
mod security;
mod setup_and_login;
mod smtp;
mod sqlite_writes;
mod statements;
mod token_api;
mod tokens;
mod users;
mod validation;
