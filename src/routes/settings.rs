//! The account's settings (admins): its token policy, the longest lifetime Add Token and
//! Renew accept (`max_lifetime_days`, 1 to 365, default 365), as GitHub and GitLab offer.

use crate::auth::guards::{AdminUser, CurrentUser};
use crate::auth::session::{FlashKind, TypedSession};
use crate::client_ip::ClientIp;
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::services::policy::MAX_LIFETIME_DAYS;
use crate::state::AppState;
use crate::tokens::expiry::RECOMMENDED_MAX_DAYS;
use crate::views::{self, Layout};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

pub const FIELD: &str = "max_lifetime_days";

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub layout: Layout,
    /// What the field shows: the stored value, or what was typed.
    pub max_lifetime_days: String,
    pub min: i32,
    pub max: i32,
    pub recommended: i64,
    pub error: Option<String>,
}

pub async fn settings_page(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let days = super::tokens::lifetime_policy(&state, &user).await?;
    page(&user, &session, StatusCode::OK, days.to_string(), None)
}

/// `POST /settings`: `max_lifetime_days`, a whole number of days from 1 to 365. Loosening
/// the policy is as sensitive as a role change: it asks for a recent password.
pub async fn save_settings(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    if let Some(prompt) =
        crate::auth::sudo::require(&state, &user, &session, &form, "/settings", &[FIELD]).await?
    {
        return Ok(prompt);
    }
    let typed = form.get(FIELD).trim().to_string();
    let days = match typed.parse::<i32>() {
        Ok(days) if MAX_LIFETIME_DAYS.contains(&days) => days,
        _ => {
            let error = format!(
                "Enter a whole number of days from {} to {}.",
                MAX_LIFETIME_DAYS.start(),
                MAX_LIFETIME_DAYS.end()
            );
            return page(
                &user,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                typed,
                Some(error),
            );
        }
    };
    state.people.set_max_lifetime(user.actor(&ip), days).await?;
    let message = format!(
        "New tokens now live at most {days} days. Tokens already issued keep their expiry."
    );
    session.flash(FlashKind::Success, message)?;
    Ok(views::see_other("/settings"))
}

fn page(
    user: &CurrentUser,
    session: &TypedSession,
    status: StatusCode,
    max_lifetime_days: String,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let page = SettingsPage {
        layout: Layout::new("Settings", "settings", Some(user), session)?,
        max_lifetime_days,
        min: *MAX_LIFETIME_DAYS.start(),
        max: *MAX_LIFETIME_DAYS.end(),
        recommended: RECOMMENDED_MAX_DAYS,
        error,
    };
    views::render(status, &page)
}
