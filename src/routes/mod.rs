//! Handlers, one module per area of the product.

pub mod api;
pub mod audit;
pub mod dashboard;
pub mod handoff;
pub mod health;
pub mod inactive;
pub mod login;
pub mod notifications;
pub mod password;
pub mod setup;
pub mod token_view;
pub mod tokens;
pub mod users;

use crate::error::AppError;
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(dashboard::index))
        .route("/healthz", web::get().to(health::healthz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/static/{name}", web::get().to(crate::statics::serve))
        .route("/setup", web::get().to(setup::setup_form))
        .route("/setup", web::post().to(setup::setup))
        .route("/login", web::get().to(login::login_form))
        .route("/login", web::post().to(login::login))
        .route("/logout", web::get().to(login::logout_form))
        .route("/logout", web::post().to(login::logout))
        .route("/dashboard", web::get().to(dashboard::dashboard))
        .route("/audit", web::get().to(audit::audit_log))
        .route("/audit.csv", web::get().to(audit::export_audit))
        .route("/users", web::get().to(users::list_users))
        .route("/users", web::post().to(users::invite_user))
        .route("/users/{id}/role", web::post().to(users::change_role))
        .route("/users/{id}/disable", web::post().to(users::disable_user))
        .route("/users/{id}/enable", web::post().to(users::enable_user))
        .route("/invite/{code}", web::get().to(password::invite_form))
        .route("/invite/{code}", web::post().to(password::accept_invite))
        .route("/forgot", web::get().to(password::forgot_form))
        .route("/forgot", web::post().to(password::forgot))
        .route("/reset/{code}", web::get().to(password::reset_form))
        .route("/reset/{code}", web::post().to(password::reset_password))
        .route(
            "/notifications",
            web::get().to(notifications::list_notifications),
        )
        .route(
            "/notifications/{id}/retry",
            web::post().to(notifications::retry_notification),
        )
        .route("/tokens", web::get().to(tokens::list_tokens))
        .route("/tokens", web::post().to(tokens::create_token))
        // Fixed paths before `/tokens/{id}`, which would otherwise match them.
        .route("/tokens/new", web::get().to(tokens::new_token_form))
        .route("/tokens/inactive", web::get().to(inactive::list_inactive))
        .route(
            "/tokens/inactive.csv",
            web::get().to(inactive::export_inactive),
        )
        .route("/tokens/{id}", web::get().to(tokens::show_token))
        .route("/tokens/{id}", web::post().to(tokens::update_token))
        .route(
            "/tokens/{id}/credentials",
            web::post().to(tokens::retrieve_credentials),
        )
        .route("/tokens/{id}/revoke", web::get().to(tokens::revoke_form))
        .route(
            "/tokens/{id}/renew",
            web::get().to(tokens::renew_token_form),
        )
        .route("/tokens/{id}/revoke", web::post().to(tokens::revoke_token))
        .route(
            "/tokens/{id}/handoff",
            web::post().to(handoff::create_handoff),
        )
        .route("/handoff/{code}", web::get().to(handoff::show_handoff))
        .route("/handoff/{code}", web::post().to(handoff::reveal_handoff))
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::not_found())
}

/// Records what a signed-in user did.
pub(crate) fn audit_by(
    conn: &mut crate::db::DbConn,
    user: &crate::auth::guards::CurrentUser,
    action: &str,
    token_id: Option<&str>,
    detail: &str,
    ip: Option<&str>,
    now: chrono::NaiveDateTime,
) -> diesel::QueryResult<()> {
    crate::db::audit::insert(
        conn,
        &crate::db::audit::NewEvent {
            account_id: Some(&user.account_id),
            actor_id: Some(&user.id),
            actor_email: Some(&user.email),
            action,
            token_id,
            detail,
            ip,
        },
        now,
    )
}

/// Ids in paths (tokens, users, notices) are UUIDs; anything else is simply not found, and
/// never reaches the database (PostgreSQL would refuse a NUL byte with an error).
pub fn path_id(path: web::Path<String>) -> Result<String, AppError> {
    let raw = path.into_inner();
    uuid::Uuid::parse_str(&raw)
        .map(|id| id.to_string())
        .map_err(|_| AppError::not_found())
}
