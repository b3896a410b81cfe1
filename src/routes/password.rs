//! Setting a password through a one-time link: accepting an invitation (72 h), which makes
//! the user, or resetting a forgotten password (1 h). "Forgot password" answers the same
//! whether or not the address has an account.

use crate::api::throttle::Client;
use crate::auth::one_time;
use crate::auth::password;
use crate::auth::session::{FlashKind, TypedSession};
use crate::client_ip::ClientIp;
use crate::db::{invitations, user_links, users};
use crate::domain::{EmailAddress, SignInFrom};
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::services::passwords::{Acceptance, Reset};
use crate::state::AppState;
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

const WELCOME: &str = "Welcome: choose your password";
const NEW_PASSWORD: &str = "Choose a new password";

fn password_page(
    session: &TypedSession,
    status: StatusCode,
    heading: &'static str,
    email: String,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    views::render(
        status,
        &SetPasswordPage {
            layout: Layout::new(heading, "password", None, session)?,
            heading,
            email,
            error,
        },
    )
}

/// What is wrong with the new password typed twice, if anything.
pub fn new_password_error(new_password: &str, confirm: &str, email: &str) -> Option<String> {
    password::check_new(new_password, &[email])
        .err()
        .or_else(|| (new_password != confirm).then(|| "The two passwords differ.".to_string()))
}

/// The reset link's user, if the link can still be used: 404 unknown, 410 used or expired.
async fn usable_reset(
    state: &AppState,
    code: &str,
) -> Result<(user_links::UserLink, users::SessionUser), AppError> {
    let code_hash = one_time::hash(code);
    let now = state.clock.now();
    state
        .db(move |conn| {
            let link = user_links::find(conn, user_links::RESET, &code_hash)?
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

/// The invitation behind a code, if it can still be accepted: 404 unknown, 410 accepted,
/// cancelled or expired.
async fn usable_invitation(
    state: &AppState,
    code: &str,
) -> Result<invitations::Invitation, AppError> {
    let code_hash = one_time::hash(code);
    let now = state.clock.now();
    let invitation = state
        .db(move |conn| Ok(invitations::find_by_hash(conn, &code_hash)?))
        .await?
        .ok_or(AppError::NotFound("This invitation link is not valid."))?;
    if invitation.accepted_at.is_some()
        || invitation.cancelled_at.is_some()
        || invitation.expires_at <= now
    {
        return Err(AppError::Gone(
            "This invitation was already used, was cancelled, or has expired. Ask the admin who invited you to send it again.",
        ));
    }
    Ok(invitation)
}

pub async fn invite_form(
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let invitation = usable_invitation(&state, &path.into_inner()).await?;
    password_page(
        &session,
        StatusCode::OK,
        WELCOME,
        invitation.email.into_string(),
        None,
    )
}

/// Accepting makes the user: the address is taken only now, so an invitation from one
/// account to someone of another answers the invitee (409), never the inviting admin.
pub async fn accept_invite(
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    form: PostedForm,
    ip: ClientIp,
    from: SignInFrom,
) -> Result<HttpResponse, AppError> {
    let invitation = usable_invitation(&state, &path.into_inner()).await?;
    if let Some(error) = new_password_error(
        form.get("password"),
        form.get("password_confirm"),
        invitation.email.as_str(),
    ) {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return password_page(
            &session,
            status,
            WELCOME,
            invitation.email.into_string(),
            Some(error),
        );
    }
    let acceptance = Acceptance {
        invitation,
        password_hash: password::hash_queued(form.get("password").to_string()).await?,
        ip: ip.text(),
    };
    let user_id = state.people.accept_invitation(acceptance).await?;
    session.sign_in(&user_id, state.clock.now(), &from)?;
    state.sessions.remember_device(user_id, from).await?;
    session.flash(
        FlashKind::Success,
        "Your password is set. You are signed in.",
    )?;
    Ok(views::see_other("/"))
}

pub async fn reset_form(
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (_, user) = usable_reset(&state, &path.into_inner()).await?;
    password_page(&session, StatusCode::OK, NEW_PASSWORD, user.email, None)
}

pub async fn reset_password(
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    form: PostedForm,
    ip: ClientIp,
    from: SignInFrom,
) -> Result<HttpResponse, AppError> {
    let (link, user) = usable_reset(&state, &path.into_inner()).await?;
    if let Some(error) = new_password_error(
        form.get("password"),
        form.get("password_confirm"),
        &user.email,
    ) {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return password_page(&session, status, NEW_PASSWORD, user.email, Some(error));
    }
    let user_id = user.id.clone();
    let reset = Reset {
        link_id: link.id,
        user,
        password_hash: password::hash_queued(form.get("password").to_string()).await?,
        ip: ip.text(),
    };
    state.people.reset_password(reset).await?;
    session.sign_in(&user_id, state.clock.now(), &from)?;
    state.sessions.remember_device(user_id, from).await?;
    session.flash(
        FlashKind::Success,
        "Your password is set. You are signed in.",
    )?;
    Ok(views::see_other("/"))
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
    let email = EmailAddress::normalise(form.get("email"));
    // Nothing here depends on whether the address has an account: the worker looks it up
    // after this answer (see `notify::direct`).
    if let Ok(address) = EmailAddress::parse(&email) {
        if state.forgot_by_email.failure(&email).is_none() {
            state.direct_mail.reset(address);
        }
    }
    views::ok(&ForgotPage {
        layout: Layout::new("Forgot your password?", "login", None, &session)?,
        sent_to: Some(email),
    })
}
