//! "Your account": the signed-in user's own page: changing their password (which signs out
//! their other sessions), and their e-mail settings (the weekly token report, which admins
//! receive unless they turn it off).

use super::password::new_password_error;
use crate::auth::guards::CurrentUser;
use crate::auth::password;
use crate::auth::session::{FlashKind, TypedSession};
use crate::client_ip::ClientIp;
use crate::db::{self, users};
use crate::domain::Role;
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::services::passwords::Change;
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
    pub errors: Errors,
    /// For a member, who has no token pages: the account's admins, to ask.
    pub admins: Vec<String>,
}

/// What was wrong with the form just posted.
#[derive(Default)]
pub struct Errors {
    pub weekly_report: Option<String>,
    pub password: Option<String>,
}

pub async fn account_page(
    user: CurrentUser,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let stored = stored(&state, &user).await?;
    page(&user, &session, StatusCode::OK, stored, Errors::default())
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
            let current = stored(&state, &user).await?;
            let errors = Errors {
                weekly_report: Some("The weekly report setting is either checked or not.".into()),
                ..Errors::default()
            };
            return page(
                &user,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                current,
                errors,
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

/// `POST /account/password`: `current_password`, `new_password`, `new_password_confirm`.
/// Wrong current passwords count with the sudo prompt's, as failed sign-ins from a trusted
/// browser do: a stolen session cannot guess the password faster than the sign-in page.
pub async fn change_password(
    user: CurrentUser,
    state: web::Data<AppState>,
    session: TypedSession,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let attempt = state.signin.signed_in(user.id.as_str());
    if let Some(wait) = state.signin.blocked(&attempt) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let message = format!("Too many wrong passwords. Try again in {minutes} minute(s).");
        return refused(
            &state,
            &user,
            &session,
            StatusCode::TOO_MANY_REQUESTS,
            message,
        )
        .await;
    }
    let (new_password, confirm) = (form.get("new_password"), form.get("new_password_confirm"));
    if let Some(error) = new_password_error(new_password, confirm, &user.email) {
        return refused(
            &state,
            &user,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            error,
        )
        .await;
    }
    let id = user.id.clone();
    let stored = db::run::<_, AppError, _>(&state.pool, move |conn| {
        Ok(users::find_password_hash(conn, &id)?)
    })
    .await?;
    if !password::verify_queued(form.get("current_password").to_string(), stored).await? {
        state.signin.failure(&attempt);
        let message = "Your current password is not the one you typed.".to_string();
        return refused(
            &state,
            &user,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            message,
        )
        .await;
    }
    let change = Change {
        actor: user.actor(&ip),
        current_session: session.id().ok_or(AppError::Unauthenticated)?,
        password_hash: password::hash_queued(new_password.to_string()).await?,
    };
    let ended = state.people.change_password(change).await?;
    let message = match ended {
        0 => "Your password is changed.".to_string(),
        1 => "Your password is changed, and your 1 other session is signed out.".to_string(),
        n => format!("Your password is changed, and your {n} other sessions are signed out."),
    };
    session.flash(FlashKind::Success, message)?;
    Ok(views::see_other("/account"))
}

/// The page again, with what was wrong with the password form.
async fn refused(
    state: &AppState,
    user: &CurrentUser,
    session: &TypedSession,
    status: StatusCode,
    message: String,
) -> Result<HttpResponse, AppError> {
    let errors = Errors {
        password: Some(message),
        ..Errors::default()
    };
    let stored = stored(state, user).await?;
    page(user, session, status, stored, errors)
}

/// What the page shows that the session does not hold.
struct Stored {
    weekly_report: bool,
    /// For a member, who has no token pages: the account's admins, to ask.
    admins: Vec<String>,
}

async fn stored(state: &AppState, user: &CurrentUser) -> Result<Stored, AppError> {
    let (id, account_id, member) = (
        user.id.clone(),
        user.account_id.clone(),
        !user.role.can_review(),
    );
    db::run::<_, AppError, _>(&state.pool, move |conn| {
        let weekly_report = users::weekly_report(conn, &id)?.ok_or(AppError::Unauthenticated)?;
        let admins = match member {
            true => users::admin_emails(conn, &account_id)?,
            false => Vec::new(),
        };
        Ok(Stored {
            weekly_report,
            admins,
        })
    })
    .await
}

fn page(
    user: &CurrentUser,
    session: &TypedSession,
    status: StatusCode,
    stored: Stored,
    errors: Errors,
) -> Result<HttpResponse, AppError> {
    let page = AccountPage {
        layout: Layout::new("Your account", "account", Some(user), session)?,
        email: user.email.clone(),
        role: user.role.as_str(),
        account_name: user.account_name.clone(),
        is_admin: user.role == Role::Admin,
        weekly_report: stored.weekly_report,
        admins: stored.admins,
        errors,
    };
    views::render(status, &page)
}
