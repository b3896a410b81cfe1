//! Setting a password through a one-time link: accepting an invitation (72 h) or resetting a
//! forgotten password (1 h). "Forgot password" answers the same whether or not the address
//! has an account.

use crate::api::throttle::Client;
use crate::auth::one_time;
use crate::auth::password;
use crate::auth::session::{FlashKind, TypedSession};
use crate::client_ip::ClientIp;
use crate::db::{self, audit, user_links, users};
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::startup::AppState;
use crate::views::{self, ErrorPage, Layout};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "password_set.html")]
pub struct SetPasswordPage {
    pub layout: Layout,
    pub heading: &'static str,
    pub email: String,
    pub error: Option<String>,
}

fn heading(purpose: &str) -> &'static str {
    if purpose == user_links::INVITE {
        "Welcome: choose your password"
    } else {
        "Choose a new password"
    }
}

/// The link's user, if the link can still be used: 404 unknown, 410 used or expired.
async fn usable_link(
    state: &AppState,
    purpose: &'static str,
    code: &str,
) -> Result<(user_links::UserLink, users::SessionUser), AppError> {
    let code_hash = one_time::hash(code);
    let now = state.clock.now();
    db::run(&state.pool, move |conn| {
        let link = user_links::find(conn, purpose, &code_hash)?
            .ok_or(AppError::NotFound("This link is not valid."))?;
        if link.used_at.is_some() || link.expires_at <= now {
            return Err(AppError::Gone(
                "This link has already been used or has expired. Ask for a new one.",
            ));
        }
        let user =
            users::find_session_user(conn, &link.user_id)?.ok_or_else(AppError::not_found)?;
        if user.disabled {
            return Err(AppError::Gone("This account is disabled."));
        }
        Ok((link, user))
    })
    .await
}

async fn show(
    state: &AppState,
    session: &TypedSession,
    purpose: &'static str,
    code: String,
) -> Result<HttpResponse, AppError> {
    let (_, user) = usable_link(state, purpose, &code).await?;
    views::ok(&SetPasswordPage {
        layout: Layout::new(heading(purpose), "password", None, session)?,
        heading: heading(purpose),
        email: user.email,
        error: None,
    })
}

async fn set(
    state: &AppState,
    session: &TypedSession,
    purpose: &'static str,
    code: String,
    form: &PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let (link, user) = usable_link(state, purpose, &code).await?;
    let new_password = form.get("password");
    let error = password::check_new(new_password, &[&user.email])
        .err()
        .or_else(|| {
            (new_password != form.get("password_confirm"))
                .then(|| "The two passwords differ.".to_string())
        });
    if let Some(error) = error {
        return views::render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetPasswordPage {
                layout: Layout::new(heading(purpose), "password", None, session)?,
                heading: heading(purpose),
                email: user.email,
                error: Some(error),
            },
        );
    }
    let hash = password::hash_queued(new_password.to_string()).await?;
    let now = state.clock.now();
    let ip = ip.text();
    let (user_id, account_id, email) =
        (user.id.clone(), user.account_id.clone(), user.email.clone());
    let epoch = db::run(&state.pool, move |conn| {
        db::transaction(conn, |conn| {
            if !user_links::consume(conn, &link.id, now)? {
                return Err(AppError::Gone(
                    "This link has already been used or has expired. Ask for a new one.",
                ));
            }
            let epoch = users::set_password(conn, &user_id, &hash)?;
            user_links::void_all(conn, &user_id, now)?;
            let action = if purpose == user_links::INVITE {
                "user.invitation_accepted"
            } else {
                "user.password_reset"
            };
            audit::insert(
                conn,
                &audit::NewEvent {
                    account_id: Some(&account_id),
                    actor_id: Some(&user_id),
                    actor_email: Some(&email),
                    action,
                    token_id: None,
                    detail: "",
                    ip: ip.as_deref(),
                },
                now,
            )?;
            Ok(epoch)
        })
    })
    .await?;
    session.sign_in(&user.id, epoch, now)?;
    session.flash(
        FlashKind::Success,
        "Your password is set. You are signed in.",
    )?;
    Ok(views::see_other("/"))
}

pub async fn invite_form(
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    show(&state, &session, user_links::INVITE, path.into_inner()).await
}

pub async fn accept_invite(
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    set(
        &state,
        &session,
        user_links::INVITE,
        path.into_inner(),
        &form,
        ip,
    )
    .await
}

pub async fn reset_form(
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    show(&state, &session, user_links::RESET, path.into_inner()).await
}

pub async fn reset_password(
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    set(
        &state,
        &session,
        user_links::RESET,
        path.into_inner(),
        &form,
        ip,
    )
    .await
}

#[derive(Template)]
#[template(path = "forgot.html")]
pub struct ForgotPage {
    pub layout: Layout,
    pub sent_to: Option<String>,
}

pub async fn forgot_form(session: TypedSession) -> Result<HttpResponse, AppError> {
    views::ok(&ForgotPage {
        layout: Layout::new("Forgot your password?", "login", None, &session)?,
        sent_to: None,
    })
}

/// The same answer for every address, by the same code path: the lookup, the link and
/// the e-mail happen in the background, so the response time says nothing either. Links
/// go only to active users (an invited user has their invitation). At most `RESETS_PER_EMAIL` e-mails to one
/// address an hour (beyond, the same answer and nothing sent), and a limit per client
/// address (429).
pub async fn forgot(
    state: web::Data<AppState>,
    session: TypedSession,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    if let Some(client) = ip.0.map(Client::from) {
        if let Some(wait) = state
            .forgot_by_address
            .blocked(&client)
            .or_else(|| state.forgot_by_address.failure(&client))
        {
            return views::too_many_requests(wait, |minutes| {
                views::render(
                    StatusCode::TOO_MANY_REQUESTS,
                    &ErrorPage {
                        status: 429,
                        title: "Too Many Requests",
                        message: format!(
                            "Too many password reset requests from your network. Try again in {minutes}."
                        ),
                    },
                )
            });
        }
    }
    let email = crate::routes::setup::normalise_email(form.get("email"));
    // Nothing here depends on whether the address has an account: the worker looks it up
    // after this answer (see `notify::direct`).
    if crate::routes::setup::check_email(&email).is_ok()
        && state.forgot_by_email.failure(&email).is_none()
    {
        state.direct_mail.reset(email.clone());
    }
    views::ok(&ForgotPage {
        layout: Layout::new("Forgot your password?", "login", None, &session)?,
        sent_to: Some(email),
    })
}
