//! Hand-off links: an admin makes a one-time link (24 h) that reveals a token's
//! credentials to the person who will use it. Opening the link (GET) consumes nothing, so
//! link previews and mail scanners are harmless; the Reveal button (POST) shows them once.

use super::path_ids::{parse_id, path_id};
use crate::auth::guards::AdminUser;
use crate::auth::session::TypedSession;
use crate::client_ip::ClientIp;
use crate::domain::EmailAddress;
use crate::domain::TokenId;
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::services::handoffs::NewHandoff;
use crate::state::AppState;
use crate::tokens::secret::Password;
use crate::views::{self, ApiUsage, Layout, TimeView};
use actix_web::{web, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "handoff/created.html")]
pub struct HandoffCreatedPage {
    pub layout: Layout,
    pub token_id: TokenId,
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
    let id: TokenId = path_id(path)?;
    let action = format!("/tokens/{id}/handoff");
    if let Some(prompt) =
        crate::auth::sudo::require(&state, &user, &session, &form, &action, &["email"]).await?
    {
        return Ok(prompt);
    }
    let email = EmailAddress::normalise(form.get("email"));
    let sent_to = (!email.is_empty()).then(|| EmailAddress::parse(&email));
    if form.too_large || matches!(sent_to, Some(Err(_))) {
        return super::tokens::token_page_with_handoff_error(
            &state,
            &user,
            &session,
            id,
            "Enter an e-mail address like name@example.com, or leave it empty to copy the link.",
        )
        .await;
    }
    let new = NewHandoff {
        actor: user.actor(&ip),
        token_id: id.clone(),
        sent_to: sent_to.and_then(Result::ok),
    };
    let sent_to = new.sent_to.as_ref().map(ToString::to_string);
    let handed = state.handoffs.create(new).await?;
    views::ok(&HandoffCreatedPage {
        layout: Layout::new("Hand-off link", "tokens", Some(&user), &session)?,
        token_id: id,
        token_name: handed.token_name,
        url: handed.url,
        expires: TimeView::new(handed.expires_at, handed.created_at),
        sent_to,
        send_error: handed
            .not_mailed
            .then(|| "The e-mail could not be sent; copy the link instead.".to_string()),
    })
}

#[derive(Template)]
#[template(path = "handoff/reveal.html")]
pub struct RevealPage {
    pub layout: Layout,
    pub token_name: String,
    pub from: String,
    pub account_name: String,
    pub expires: TimeView,
}

pub async fn show_handoff(
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (handoff, token) = state.handoffs.usable(&path.into_inner()).await?;
    views::ok(&RevealPage {
        layout: Layout::new("Your API credentials", "handoff", None, &session)?,
        token_name: token.name,
        expires: TimeView::new(handoff.expires_at, state.clock.now()),
        from: handoff.made_by,
        account_name: handoff.account_name,
    })
}

#[derive(Template)]
#[template(path = "handoff/credentials.html")]
pub struct RevealedPage {
    pub layout: Layout,
    pub token_name: String,
    pub from: String,
    pub account_name: String,
    pub username: String,
    pub password: Password,
    pub expires: TimeView,
    pub api: ApiUsage,
}

pub async fn reveal_handoff(
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    _form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let revealed = state.handoffs.reveal(&path.into_inner(), ip.text()).await?;
    views::ok(&RevealedPage {
        layout: Layout::new("Your API credentials", "handoff", None, &session)?,
        expires: TimeView::new(revealed.token_expires_at, state.clock.now()),
        api: ApiUsage::new(&state.settings.base_url, &revealed.username),
        token_name: revealed.token_name,
        from: revealed.from,
        account_name: revealed.account_name,
        username: revealed.username,
        password: revealed.password,
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
    let (token_id, handoff_id): (TokenId, String) = (parse_id(&token_id)?, parse_id(&handoff_id)?);
    let actor = user.actor(&ip);
    state
        .handoffs
        .cancel(actor, token_id.clone(), handoff_id)
        .await?;
    session.flash(
        crate::auth::session::FlashKind::Success,
        "The hand-off link is cancelled: it no longer reveals anything.",
    )?;
    Ok(views::see_other(&format!("/tokens/{token_id}")))
}
