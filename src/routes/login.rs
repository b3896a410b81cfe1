//! Sign-in and sign-out.

use crate::auth::guards::CurrentUser;
use crate::auth::password;
use crate::auth::session::{FlashKind, TypedSession};
use crate::client_ip::ClientIp;
use crate::db::users;
use crate::domain::EmailAddress;
use crate::domain::SignInFrom;
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::services::sessions::PasswordSignIn;
use crate::state::AppState;
use crate::views::{self, Layout};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub email: String,
    pub error: Option<String>,
    /// Where signing in leads (`local_target`), or "" for the Dashboard.
    pub next: String,
}

#[derive(serde::Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Where signing in leads: `next` when it is a path on this site, else None (the
/// Dashboard). `//host`, `/\host` and anything with a scheme or a control character would
/// take the browser to another site, so they are refused.
pub fn local_target(next: &str) -> Option<&str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 2048
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    let pointless = ["/login", "/logout"]
        .iter()
        .any(|page| next == *page || next.starts_with(&format!("{page}?")));
    (local && !pointless).then_some(next)
}

pub async fn login_form(
    state: web::Data<AppState>,
    session: TypedSession,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    let next = local_target(query.next.as_deref().unwrap_or("")).unwrap_or("");
    if session.user().is_some() {
        return Ok(views::see_other(landing(next)));
    }
    // Users may also come from `sesame user add`, so ask the database, not the setup code.
    if !crate::routes::setup::setup_done(&state).await? {
        return Ok(views::see_other("/setup"));
    }
    views::ok(&LoginPage {
        layout: Layout::new("Sign in", "login", None, &session)?,
        email: String::new(),
        error: None,
        next: next.to_string(),
    })
}

/// The page a sign-in lands on.
fn landing(next: &str) -> &str {
    match next {
        "" => "/dashboard",
        next => next,
    }
}

pub async fn login(
    state: web::Data<AppState>,
    session: TypedSession,
    form: PostedForm,
    ip: ClientIp,
    from: SignInFrom,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let email = EmailAddress::normalise(form.get("email"));
    let next = local_target(form.get("next")).unwrap_or("").to_string();
    // Throttled per address whether or not it has an account, and before the password is
    // checked: a lockout says nothing, and the right password does not get through it.
    // A browser that signed in as this address before has a limit of its own (`lockout`).
    let attempt = state.signin.attempt(&req, &email, ip.0);
    if let Some(wait) = state.signin.blocked(&attempt) {
        return locked_out(&session, email, next, wait);
    }
    let now = state.clock.now();
    let presented = form.get("password").to_string();
    let signed_in = verify(&state, &email, presented, ip.text(), now).await?;
    match signed_in {
        Some(user) => {
            session.sign_in(&user.id, now, &from)?;
            state
                .sessions
                .signed_in(PasswordSignIn {
                    user_id: user.id,
                    account_id: user.account_id,
                    email: user.email,
                    from,
                })
                .await?;
            let mut response = views::see_other(landing(&next));
            let device = state.signin.devices.issue(&email, state.settings.https());
            response
                .add_cookie(&device)
                .map_err(|e| AppError::internal(format!("device cookie: {e}")))?;
            Ok(response)
        }
        None => {
            if let Some(wait) = state.signin.failure(&attempt) {
                return locked_out(&session, email, next, wait);
            }
            views::render(
                StatusCode::UNAUTHORIZED,
                &LoginPage {
                    layout: Layout::new("Sign in", "login", None, &session)?,
                    email,
                    error: Some("Incorrect e-mail address or password.".into()),
                    next,
                },
            )
        }
    }
}

/// The user these credentials sign in; None for any wrong answer, found in the same time
/// whether or not the address has an account.
async fn verify(
    state: &AppState,
    email: &str,
    presented: String,
    ip: Option<String>,
    now: chrono::NaiveDateTime,
) -> Result<Option<users::Credentials>, AppError> {
    // The connection goes back before the hash is checked (see `password::verify_queued`).
    let user = match EmailAddress::parse(email) {
        Ok(address) => {
            state
                .db(move |conn| Ok(users::find_credentials(conn, &address)?))
                .await?
        }
        Err(_) => None,
    };
    // Verified even when the user is absent (against a dummy hash): same time either way.
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let valid = password::verify_queued(presented, stored).await?;
    match user {
        Some(user) if valid && !user.disabled => Ok(Some(user)),
        // Audited after the answer: a write here would make a wrong password for an
        // existing address slower than for an unknown one.
        Some(user) => {
            state.direct_mail.signin_failed(user, ip, now);
            Ok(None)
        }
        None => Ok(None),
    }
}

fn locked_out(
    session: &TypedSession,
    email: String,
    next: String,
    wait: std::time::Duration,
) -> Result<HttpResponse, AppError> {
    views::too_many_requests(wait, |minutes| {
        views::render(
            StatusCode::TOO_MANY_REQUESTS,
            &LoginPage {
                layout: Layout::new("Sign in", "login", None, session)?,
                email,
                error: Some(format!(
                    "Too many failed sign-ins for this address or from your network. Try again in {minutes}."
                )),
                next: next.clone(),
            },
        )
    })
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage {
    pub layout: Layout,
}

/// A page with the sign-out button, for roles whose pages have no navigation (members).
pub async fn logout_form(
    user: CurrentUser,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    views::ok(&LogoutPage {
        layout: Layout::new("Sign out", "logout", Some(&user), &session)?,
    })
}

/// Signs out of this session only: its row goes (the user's other sessions stay).
pub async fn logout(
    user: CurrentUser,
    state: web::Data<AppState>,
    session: TypedSession,
    _form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let actor = user.actor(&ip);
    state
        .db(move |conn| Ok(actor.record(conn, "user.signout", None, "", now)?))
        .await?;
    session.sign_out();
    session.flash(FlashKind::Success, "You have signed out.")?;
    Ok(views::see_other("/login"))
}

#[cfg(test)]
mod tests {
    use super::local_target;

    #[test]
    fn only_paths_on_this_site_are_landed_on() {
        for local in [
            "/tokens/abc",
            "/tokens?q=a%20b&page=2",
            "/audit",
            "/account",
        ] {
            assert_eq!(local_target(local), Some(local));
        }
        for elsewhere in [
            "",
            "//evil.test",
            "//evil.test/tokens",
            "https://evil.test/",
            "http:/evil.test",
            "/\\evil.test",
            "/tokens\\..\\x",
            "evil.test",
            "javascript:alert(1)",
            "/\tevil",
            "/a\nb",
            "/ /evil.test",
            "/login",
            "/login?next=/tokens",
            "/logout",
        ] {
            assert_eq!(local_target(elsewhere), None, "{elsewhere:?}");
        }
        assert_eq!(local_target(&format!("/{}", "a".repeat(3000))), None);
    }
}
