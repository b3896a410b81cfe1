//! Handlers, one module per area of the product.

pub mod account;
pub mod api;
pub mod api_errors;
pub mod audit;
pub mod bulk_revoke;
pub mod dashboard;
pub mod endpoint;
pub mod handoff;
pub mod health;
pub mod inactive;
pub mod leaks;
pub mod login;
pub mod notifications;
pub mod password;
pub mod path_ids;
pub mod sessions;
pub mod settings;
pub mod setup;
pub mod token_form;
pub mod token_view;
pub mod tokens;
pub mod usage_view;
pub mod users;

use crate::error::AppError;
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    use dashboard as d;
    use endpoint::{Answer, Endpoint as At};
    let endpoints = [
        At::at("/").get(d::index),
        At::at("/healthz").get(health::healthz),
        At::at("/metrics").get(health::metrics),
        At::at("/static/{name}").get(crate::statics::serve),
        At::at("/setup").get(setup::setup_form).post(setup::setup),
        At::at("/login").get(login::login_form).post(login::login),
        At::at("/logout")
            .get(login::logout_form)
            .post(login::logout),
        At::at("/account").get(account::account_page),
        At::at("/account/password").post(account::change_password),
        At::at("/account/weekly-report").post(account::set_weekly_report),
        At::at("/sessions").get(sessions::list_sessions),
        At::at("/sessions/end-others").post(sessions::end_other_sessions),
        At::at("/sessions/{id}/end").post(sessions::end_session),
        At::at("/dashboard").get(d::dashboard),
        At::at("/audit").get(audit::audit_log),
        At::at("/audit.csv").get(audit::export_audit),
        At::at("/users")
            .get(users::list_users)
            .post(users::invite_user),
        At::at("/users/{id}/role").post(users::change_role),
        At::at("/users/{id}/disable")
            .get(users::disable_form)
            .post(users::disable_user),
        At::at("/users/{id}/sessions/end").post(users::end_user_sessions),
        At::at("/users/{id}/enable").post(users::enable_user),
        At::at("/users/invitations/{id}/resend").post(users::resend_invitation),
        At::at("/users/invitations/{id}/cancel").post(users::cancel_invitation),
        At::at("/invite/{code}")
            .get(password::invite_form)
            .post(password::accept_invite),
        At::at("/forgot")
            .get(password::forgot_form)
            .post(password::forgot),
        At::at("/reset/{code}")
            .get(password::reset_form)
            .post(password::reset_password),
        At::at("/settings")
            .get(settings::settings_page)
            .post(settings::save_settings),
        At::at("/notifications").get(notifications::list_notifications),
        At::at("/notifications/{id}/retry").post(notifications::retry_notification),
        At::at("/tokens")
            .get(tokens::list_tokens)
            .post(tokens::create_token),
        // Fixed paths before `/tokens/{id}`, which would otherwise match them.
        At::at("/tokens/new").get(tokens::new_token_form),
        At::at("/tokens/revoke").post(bulk_revoke::revoke_tokens),
        At::at("/tokens/inactive").get(inactive::list_inactive),
        At::at("/tokens/inactive.csv").get(inactive::export_inactive),
        At::at("/tokens/{id}")
            .get(tokens::show_token)
            .post(tokens::update_token),
        At::at("/tokens/{id}/credentials").post(tokens::retrieve_credentials),
        At::at("/tokens/{id}/revoke")
            .get(tokens::revoke_form)
            .post(tokens::revoke_token),
        At::at("/tokens/{id}/renew").get(tokens::renew_token_form),
        At::at("/tokens/{id}/handoff").post(handoff::create_handoff),
        At::at("/tokens/{id}/handoffs/{handoff}/cancel").post(handoff::cancel_handoff),
        At::at("/handoff/{code}")
            .get(handoff::show_handoff)
            .post(handoff::reveal_handoff),
    ];
    for endpoint in endpoints {
        endpoint.register(cfg, Answer::Page);
    }
    cfg.default_service(web::to(|| async {
        Err::<actix_web::HttpResponse, _>(AppError::not_found())
    }));
}
