//! "Where am I signed in?": the user's own sessions, and ending one or all the others.

use crate::auth::guards::CurrentUser;
use crate::auth::session::{FlashKind, TypedSession};
use crate::client_ip::ClientIp;
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::state::AppState;
use crate::views::{self, Layout, TimeView};
use actix_web::{web, HttpResponse};
use askama::Template;

pub struct SessionView {
    pub id: String,
    pub device: String,
    pub ip: String,
    pub signed_in: TimeView,
    pub seen: TimeView,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "sessions.html")]
pub struct SessionsPage {
    pub layout: Layout,
    pub sessions: Vec<SessionView>,
}

pub async fn list_sessions(
    user: CurrentUser,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let rows = state.sessions.list(user.id.clone(), session.id()).await?;
    let sessions = rows
        .into_iter()
        .map(|row| SessionView {
            signed_in: TimeView::new(row.signed_in_at, now),
            seen: TimeView::new(row.seen_at, now),
            id: row.id,
            device: row.device,
            ip: row.ip,
            current: row.current,
        })
        .collect();
    views::ok(&SessionsPage {
        layout: Layout::new("Sessions", "sessions", Some(&user), &session)?,
        sessions,
    })
}

/// The session this request came in: its public id (never missing for a signed-in user).
fn current(session: &TypedSession) -> Result<String, AppError> {
    session.id().ok_or(AppError::Unauthenticated)
}

pub async fn end_session(
    user: CurrentUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    _form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    // A UUID or 404 (PostgreSQL would refuse a NUL byte with an error, a 500).
    let id: String = super::path_ids::path_id(path)?;
    let current = current(&session)?;
    state.sessions.end_one(user.actor(&ip), id, current).await?;
    session.flash(FlashKind::Success, "That session is signed out.")?;
    Ok(views::see_other("/sessions"))
}

pub async fn end_other_sessions(
    user: CurrentUser,
    state: web::Data<AppState>,
    session: TypedSession,
    _form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let current = current(&session)?;
    let ended = state.sessions.end_others(user.actor(&ip), current).await?;
    let message = match ended {
        0 => "There was no other session.".to_string(),
        1 => "1 other session is signed out.".to_string(),
        n => format!("{n} other sessions are signed out."),
    };
    session.flash(FlashKind::Success, message)?;
    Ok(views::see_other("/sessions"))
}
