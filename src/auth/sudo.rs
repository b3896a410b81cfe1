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
    /// What confirming does, in words ("retrieve this token's credentials").
    pub what: &'static str,
    /// Where Cancel leads: the page the action came from.
    pub cancel: String,
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
    let (what, cancel) = described(action);
    let page = SudoPage {
        layout: Layout::new("Confirm your password", "sudo", Some(user), session)?,
        action: action.to_string(),
        what,
        cancel,
        carried: carried
            .iter()
            .map(|name| (name.to_string(), form.get(name).to_string()))
            .collect(),
        error,
    };
    views::render(StatusCode::UNAUTHORIZED, &page).map(Some)
}

/// The action a prompt confirms, in words, and the page it came from (for Cancel).
fn described(action: &str) -> (&'static str, String) {
    let parent = |suffix: &str| action.strip_suffix(suffix).unwrap_or("/").to_string();
    if action.ends_with("/credentials") {
        ("retrieve this token's credentials", parent("/credentials"))
    } else if action.ends_with("/handoff") {
        ("make a hand-off link for this token", parent("/handoff"))
    } else if action.ends_with("/role") {
        ("change this person's role", "/users".into())
    } else if action.ends_with("/disable") {
        ("disable this person", "/users".into())
    } else if action.ends_with("/enable") {
        ("enable this person", "/users".into())
    } else if action == "/users" {
        ("invite an admin", "/users".into())
    } else if action == "/settings" {
        ("change the account's token policy", "/settings".into())
    } else {
        ("continue", "/dashboard".into())
    }
}

#[cfg(test)]
mod tests {
    use super::described;

    #[test]
    fn a_prompt_names_its_action_and_cancels_back_to_where_it_came_from() {
        assert_eq!(
            described("/tokens/abc/credentials"),
            (
                "retrieve this token's credentials",
                "/tokens/abc".to_string()
            )
        );
        assert_eq!(
            described("/tokens/abc/handoff"),
            (
                "make a hand-off link for this token",
                "/tokens/abc".to_string()
            )
        );
        assert_eq!(described("/users/u1/role").1, "/users");
        assert_eq!(described("/users/u1/disable").0, "disable this person");
        assert_eq!(described("/users").0, "invite an admin");
    }
}
