//! First run: create the first account and its admin, with the code from the server log.

use crate::auth::password;
use crate::auth::session::{FlashKind, TypedSession};
use crate::client_ip::ClientIp;
use crate::db::{self, accounts, audit, users};
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::state::AppState;
use crate::views::{self, Layout};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use subtle::ConstantTimeEq;

#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub layout: Layout,
    pub values: SetupValues,
    pub errors: SetupErrors,
}

#[derive(Default)]
pub struct SetupValues {
    pub account_name: String,
    pub email: String,
}

#[derive(Default)]
pub struct SetupErrors {
    pub form: Option<String>,
    pub setup_code: Option<String>,
    pub account_name: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
}

/// Whether any user exists; once one does, the setup code is void.
pub async fn setup_done(state: &AppState) -> Result<bool, AppError> {
    let done = state.db(|conn| Ok(users::any_exist(conn)?)).await?;
    if done {
        if let Ok(mut code) = state.setup_code.lock() {
            *code = None;
        }
    }
    Ok(done)
}

pub async fn setup_form(
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    if setup_done(&state).await? {
        return Ok(views::see_other("/login"));
    }
    views::ok(&SetupPage {
        layout: Layout::new("Set up Sesame Tokens", "setup", None, &session)?,
        values: SetupValues::default(),
        errors: SetupErrors::default(),
    })
}

pub async fn setup(
    state: web::Data<AppState>,
    session: TypedSession,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    if setup_done(&state).await? {
        return Err(AppError::Conflict(
            "Setup is already complete. Sign in instead.".into(),
        ));
    }
    let values = SetupValues {
        account_name: form.get("account_name").trim().to_string(),
        email: normalise_email(form.get("email")),
    };
    let mut errors = SetupErrors::default();
    let expected = state
        .setup_code
        .lock()
        .ok()
        .and_then(|c| c.clone())
        .unwrap_or_default();
    let presented = form.get("setup_code").trim();
    if form.too_large {
        errors.form = Some("The form was too large.".into());
    }
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        errors.setup_code = Some("This is not the setup code printed in the server log.".into());
    }
    errors.account_name = check_account_name(&values.account_name).err();
    errors.email = check_email(&values.email).err();
    let new_password = form.get("password");
    errors.password = password::check_new(new_password, &[&values.email])
        .err()
        .or_else(|| {
            (new_password != form.get("password_confirm"))
                .then(|| "The two passwords differ.".to_string())
        });
    if errors.form.is_some()
        || errors.setup_code.is_some()
        || errors.account_name.is_some()
        || errors.email.is_some()
        || errors.password.is_some()
    {
        return views::render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetupPage {
                layout: Layout::new("Set up Sesame Tokens", "setup", None, &session)?,
                values,
                errors,
            },
        );
    }

    let password_hash = password::hash_queued(new_password.to_string()).await?;
    let now = state.clock.now();
    let account_name = values.account_name.clone();
    let email = values.email.clone();
    let ip = ip.text();
    let user_id = state
        .db(move |conn| {
            db::transaction(conn, |conn| {
                let account_id = db::new_id();
                // Inserting first takes the write lock, so two racing setups cannot both pass.
                accounts::insert(conn, &account_id, &account_name, now)?;
                if users::any_exist(conn)? {
                    return Err(AppError::Conflict(
                        "Setup is already complete. Sign in instead.".into(),
                    ));
                }
                let user_id = db::new_id();
                users::insert(
                    conn,
                    &users::NewUser {
                        id: &user_id,
                        account_id: &account_id,
                        email: &email,
                        password_hash: &password_hash,
                        role: users::Role::Admin,
                    },
                    now,
                )?;
                audit::insert(
                    conn,
                    &audit::NewEvent {
                        account_id: Some(&account_id),
                        actor_id: Some(&user_id),
                        actor_email: Some(&email),
                        action: "account.setup",
                        token_id: None,
                        detail: &format!("account {account_name} created with its first admin"),
                        ip: ip.as_deref(),
                    },
                    now,
                )?;
                Ok(user_id)
            })
        })
        .await?;
    if let Ok(mut code) = state.setup_code.lock() {
        *code = None;
    }
    session.sign_in(&user_id, 0, now)?;
    session.flash(
        FlashKind::Success,
        "Your account is ready. Add your first API token.",
    )?;
    Ok(views::see_other("/dashboard"))
}

pub fn normalise_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// One deliverable mailbox, by lettre's RFC 5321 parser: no lists (`a@x.test,b@y.test`),
/// no display names or brackets, no address literals (`x@[127.0.0.1]`), and a dotted domain.
pub fn check_email(email: &str) -> Result<(), String> {
    let valid = email.len() <= 254
        && email.parse::<lettre::Address>().is_ok_and(|address| {
            let domain = address.domain();
            domain.contains('.') && !domain.starts_with(['.', '[']) && !domain.ends_with('.')
        });
    if valid {
        Ok(())
    } else {
        Err("Enter an e-mail address like name@example.com.".into())
    }
}

pub fn check_account_name(name: &str) -> Result<(), String> {
    match name.chars().count() {
        0 => Err("Enter your company's account name.".into()),
        n if n > 100 => Err("Use at most 100 characters.".into()),
        _ if name.chars().any(char::is_control) => {
            Err("The name cannot contain control characters.".into())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_email;

    #[test]
    fn only_single_deliverable_mailboxes_are_addresses() {
        for good in [
            "a@x.test",
            "first.last+tag@mail.example.com",
            "o'neil@x.test",
        ] {
            assert!(check_email(good).is_ok(), "{good}");
        }
        for bad in [
            "a@x.test,b@y.test",
            "bad<x>@x.test",
            "x@[127.0.0.1]",
            "Name <a@x.test>",
            "a@localhost",
            "a b@x.test",
            "@x.test",
            "a@x.test.",
            "a@.x.test",
            "a@x\u{0}.test",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
    }
}
