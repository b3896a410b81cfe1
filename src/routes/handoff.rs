//! Hand-off links: an admin makes a one-time link (24 h) that reveals a token's
//! credentials to the person who will use it. Opening the link (GET) consumes nothing, so
//! link previews and mail scanners are harmless; the Reveal button (POST) shows them once.

use super::path_id;
use crate::auth::guards::AdminUser;
use crate::auth::one_time;
use crate::auth::session::TypedSession;
use crate::client_ip::ClientIp;
use crate::db::{self, audit, handoffs, tokens};
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::notify::messages::{self, Handoff};
use crate::state::AppState;
use crate::tokens::secret::Password;
use crate::views::{self, Layout, TimeView};
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::Duration;

pub const VALID_HOURS: i64 = 24;

#[derive(Template)]
#[template(path = "handoff/created.html")]
pub struct HandoffCreatedPage {
    pub layout: Layout,
    pub token_id: String,
    pub token_name: String,
    pub url: String,
    pub expires: TimeView,
    pub sent_to: Option<String>,
    pub send_error: Option<String>,
}

pub async fn create_handoff(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let id = path_id(path)?;
    let action = format!("/tokens/{id}/handoff");
    if let Some(prompt) =
        crate::auth::sudo::require(&state, &user, &session, &form, &action, &["email"]).await?
    {
        return Ok(prompt);
    }
    let email = crate::routes::setup::normalise_email(form.get("email"));
    if form.too_large || (!email.is_empty() && crate::routes::setup::check_email(&email).is_err()) {
        return super::tokens::token_page_with_handoff_error(
            &state,
            &user,
            &session,
            id,
            "Enter an e-mail address like name@example.com, or leave it empty to copy the link.",
        )
        .await;
    }
    let sent_to = (!email.is_empty()).then_some(email);
    let now = state.clock.now();
    let expires_at = now + Duration::hours(VALID_HOURS);
    let (code, code_hash) = one_time::new_code();
    let (actor, token, ip, recipient) = (user.clone(), id.clone(), ip.text(), sent_to.clone());
    let token_name = state
        .db(move |conn| {
            db::transaction(conn, |conn| {
                let row = tokens::find(conn, &actor.account_id, &token)?
                    .ok_or_else(AppError::not_found)?;
                if !row.is_active(now) {
                    return Err(super::tokens::inactive_conflict());
                }
                handoffs::insert(
                    conn,
                    &handoffs::NewHandoff {
                        id: &db::new_id(),
                        token_id: &token,
                        account_id: &actor.account_id,
                        code_hash: &code_hash,
                        expires_at,
                        sent_to: recipient.as_deref(),
                        created_by: &actor.id,
                    },
                    now,
                )?;
                let detail = match &recipient {
                    Some(to) => format!("one-time link, valid {VALID_HOURS} h, e-mailed to {to}"),
                    None => format!("one-time link, valid {VALID_HOURS} h"),
                };
                super::audit_by(
                    conn,
                    &actor,
                    "token.handoff_created",
                    Some(&token),
                    &detail,
                    ip.as_deref(),
                    now,
                )?;
                Ok(row.name)
            })
        })
        .await?;
    let url = state
        .settings
        .base_url
        .join(&format!("handoff/{code}"))
        .map_err(|e| AppError::internal(format!("hand-off URL: {e}")))?
        .to_string();
    // Sent now, not through the outbox: the outbox keeps its bodies, and only the code's
    // hash may be stored. If it fails, the admin still has the link to pass on.
    let send_error = match &sent_to {
        Some(to) => {
            let message = messages::handoff(&Handoff {
                from: &user.email,
                account_name: &user.account_name,
                token_name: &token_name,
                url: &url,
                expires_at,
            })
            .map_err(|e| AppError::internal(format!("e-mail template: {e}")))?;
            let (notifier, to) = (state.notifier.clone(), to.clone());
            web::block(move || notifier.send_now(&to, &message))
                .await
                .map_err(|_| AppError::internal("the e-mail task was cancelled"))?
                .err()
        }
        None => None,
    };
    if let Some(error) = &send_error {
        tracing::warn!(%error, "hand-off e-mail not sent");
    }
    views::ok(&HandoffCreatedPage {
        layout: Layout::new("Hand-off link", "tokens", Some(&user), &session)?,
        token_id: id,
        token_name,
        url,
        expires: TimeView::new(expires_at, now),
        sent_to,
        send_error: send_error
            .map(|_| "The e-mail could not be sent; copy the link instead.".to_string()),
    })
}

/// The hand-off behind a code, if it can still be opened; 404 for an unknown code, 410
/// once used, cancelled, expired, or its token no longer active.
async fn usable(
    state: &AppState,
    code: &str,
) -> Result<(handoffs::Handoff, tokens::TokenRow), AppError> {
    let code_hash = one_time::hash(code);
    let now = state.clock.now();
    state
        .db(move |conn| {
            let handoff = handoffs::find_by_hash(conn, &code_hash)?.ok_or(AppError::NotFound(
                "This link is not valid. Ask for a new one.",
            ))?;
            if handoff.opened_at.is_some()
                || handoff.cancelled_at.is_some()
                || handoff.expires_at <= now
            {
                return Err(gone());
            }
            let token =
                tokens::find(conn, &handoff.account_id, &handoff.token_id)?.ok_or_else(gone)?;
            if !token.is_active(now) {
                return Err(gone());
            }
            Ok((handoff, token))
        })
        .await
}

fn gone() -> AppError {
    AppError::Gone("This link has already been used, was cancelled, has expired, or its token no longer works. Ask for a new one.")
}

#[derive(Template)]
#[template(path = "handoff/reveal.html")]
pub struct RevealPage {
    pub layout: Layout,
    pub token_name: String,
    pub expires: TimeView,
}

pub async fn show_handoff(
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (handoff, token) = usable(&state, &path.into_inner()).await?;
    views::ok(&RevealPage {
        layout: Layout::new("Your API credentials", "handoff", None, &session)?,
        token_name: token.name,
        expires: TimeView::new(handoff.expires_at, state.clock.now()),
    })
}

#[derive(Template)]
#[template(path = "handoff/credentials.html")]
pub struct RevealedPage {
    pub layout: Layout,
    pub token_name: String,
    pub username: String,
    pub password: Password,
    pub expires: TimeView,
}

pub async fn reveal_handoff(
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    _form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let (handoff, token) = usable(&state, &path.into_inner()).await?;
    let now = state.clock.now();
    let (keys, ip) = (state.clone(), ip.text());
    let (username, password) = state
        .db(move |conn| {
            db::transaction(conn, |conn| {
                if !handoffs::open(conn, &handoff.id, ip.as_deref(), now)? {
                    return Err(gone());
                }
                let stored = tokens::find_secret(conn, &handoff.account_id, &handoff.token_id)?
                    .ok_or_else(gone)?;
                // Checked again here: a revoke may have committed since the page was checked.
                if !tokens::is_active(stored.expires_at, stored.revoked_at, now) {
                    return Err(gone());
                }
                let password = keys
                    .crypto
                    .decrypt(&handoff.token_id, &stored.secret_enc)
                    .map_err(|e| AppError::internal(format!("token {}: {e}", handoff.token_id)))?;
                audit::insert(
                    conn,
                    &audit::NewEvent {
                        account_id: Some(&handoff.account_id),
                        actor_id: None,
                        actor_email: None,
                        action: "token.handoff_opened",
                        token_id: Some(&handoff.token_id),
                        detail: "credentials revealed through the one-time link",
                        ip: ip.as_deref(),
                    },
                    now,
                )?;
                Ok((stored.username, password))
            })
        })
        .await?;
    views::ok(&RevealedPage {
        layout: Layout::new("Your API credentials", "handoff", None, &session)?,
        expires: TimeView::new(token.expires_at, now),
        token_name: token.name,
        username,
        password,
    })
}

/// Cancels one open link of the token (admins; no sudo: like revoking, it only takes
/// access away). The token page lists the open links.
pub async fn cancel_handoff(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<(String, String)>,
    _form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let (token_id, handoff_id) = path.into_inner();
    let (token_id, handoff_id) = (super::parse_id(&token_id)?, super::parse_id(&handoff_id)?);
    let now = state.clock.now();
    let (actor, ip, token) = (user.clone(), ip.text(), token_id.clone());
    state
        .db(move |conn| {
            db::transaction(conn, |conn| {
                if !handoffs::cancel(conn, &actor.account_id, &token, &handoff_id, now)? {
                    return Err(AppError::NotFound(
                        "There is no open link like this: it was revealed or cancelled already.",
                    ));
                }
                super::audit_by(
                    conn,
                    &actor,
                    "token.handoff_cancelled",
                    Some(&token),
                    "hand-off link cancelled",
                    ip.as_deref(),
                    now,
                )?;
                Ok(())
            })
        })
        .await?;
    session.flash(
        crate::auth::session::FlashKind::Success,
        "The hand-off link is cancelled: it no longer reveals anything.",
    )?;
    Ok(views::see_other(&format!("/tokens/{token_id}")))
}
