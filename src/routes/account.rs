//! "Your account": the signed-in user's own page, with their e-mail settings (the weekly
//! token report, which admins receive unless they turn it off).

use crate::auth::guards::CurrentUser;
use crate::auth::session::{FlashKind, TypedSession};
use crate::db::{self, users};
use crate::domain::Role;
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::state::AppState;
use crate::views::{self, Layout};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub email: String,
    pub role: &'static str,
    pub account_name: String,
    pub is_admin: bool,
    pub weekly_report: bool,
    pub error: Option<String>,
}

pub async fn account_page(
    user: CurrentUser,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let weekly_report = weekly_report_of(&state, &user).await?;
    page(&user, &session, StatusCode::OK, weekly_report, None)
}

/// `POST /account/weekly-report`: the `weekly_report` checkbox, checked (`on`) or absent.
pub async fn set_weekly_report(
    user: CurrentUser,
    state: web::Data<AppState>,
    session: TypedSession,
    form: PostedForm,
) -> Result<HttpResponse, AppError> {
    let wanted = match form.get("weekly_report") {
        "" => false,
        "on" | "1" | "true" => true,
        _ => {
            let current = weekly_report_of(&state, &user).await?;
            let error = "The weekly report setting is either checked or not.".to_string();
            return page(
                &user,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                current,
                Some(error),
            );
        }
    };
    let id = user.id.clone();
    db::run::<_, AppError, _>(&state.pool, move |conn| {
        Ok(users::set_weekly_report(conn, &id, wanted)?)
    })
    .await?;
    let message = match wanted {
        true => "You will get the weekly token report.",
        false => "You will no longer get the weekly token report.",
    };
    session.flash(FlashKind::Success, message)?;
    Ok(views::see_other("/account"))
}

async fn weekly_report_of(state: &AppState, user: &CurrentUser) -> Result<bool, AppError> {
    let id = user.id.clone();
    db::run::<_, AppError, _>(&state.pool, move |conn| {
        users::weekly_report(conn, &id)?.ok_or(AppError::Unauthenticated)
    })
    .await
}

fn page(
    user: &CurrentUser,
    session: &TypedSession,
    status: StatusCode,
    weekly_report: bool,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let page = AccountPage {
        layout: Layout::new("Your account", "account", Some(user), session)?,
        email: user.email.clone(),
        role: user.role.as_str(),
        account_name: user.account_name.clone(),
        is_admin: user.role == Role::Admin,
        weekly_report,
        error,
    };
    views::render(status, &page)
}
