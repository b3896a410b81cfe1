//! "Sudo mode": sensitive actions (retrieving credentials, making a hand-off link, changing
//! roles, disabling and enabling users) need the password typed within the last few minutes, like GitHub's. If it is
//! older, the action answers with a password prompt that re-posts the same action.

use super::guards::CurrentUser;
use super::password;
use super::session::TypedSession;
use crate::db::users;
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::state::AppState;
use crate::views::{self, Layout};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

pub const PASSWORD_FIELD: &str = "sudo_password";

#[derive(Template)]
#[template(path = "sudo.html")]
pub struct SudoPage {
    pub layout: Layout,
    pub action: String,
    pub carried: Vec<(String, String)>,
    pub error: Option<&'static str>,
}

/// `None` to go ahead; otherwise the prompt to answer with. `carried` are the action's own
/// fields, posted again with the password.
pub async fn require(
    state: &AppState,
    user: &CurrentUser,
    session: &TypedSession,
    form: &PostedForm,
    action: &str,
    carried: &[&str],
) -> Result<Option<HttpResponse>, AppError> {
    let now = state.clock.now();
    if session.recently_authenticated(now, state.settings.sudo_window) {
        return Ok(None);
    }
    let presented = form.get(PASSWORD_FIELD).to_string();
    let mut error = None;
    if !presented.is_empty() {
        // Wrong guesses are limited like sign-ins from a trusted browser (see `lockout`).
        let attempt = state.signin.signed_in(user.id.as_str());
        if state.signin.blocked(&attempt).is_some() {
            error = Some("Too many failed attempts. Try again later.");
        } else {
            let id = user.id.clone();
            // The connection goes back before the hash is checked.
            let hash = state
                .db(move |conn| Ok(users::find_password_hash(conn, &id)?))
                .await?;
            let valid = password::verify_queued(presented, hash).await?;
            if valid {
                session.reauthenticated(now)?;
                return Ok(None);
            }
            state.signin.failure(&attempt);
            error = Some("That is not your password.");
        }
    }
    let page = SudoPage {
        layout: Layout::new("Confirm your password", "sudo", Some(user), session)?,
        action: action.to_string(),
        carried: carried
            .iter()
            .map(|name| (name.to_string(), form.get(name).to_string()))
            .collect(),
        error,
    };
    views::render(StatusCode::UNAUTHORIZED, &page).map(Some)
}
