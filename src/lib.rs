//! Sesame Tokens: account administrators create, hand out, monitor and revoke API tokens.

pub mod api;
pub mod auth;
pub mod cli;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod export;
pub mod forms;
pub mod keys;
pub mod links;
pub mod metrics;
pub mod notify;
pub mod routes;
pub mod scan;
pub mod seed;
pub mod services;
pub mod startup;
pub mod state;
pub mod statics;
pub mod tokens;
pub mod views;
