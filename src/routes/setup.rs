//! First run: create the first account and its admin, with the code from the server log.

use crate::auth::password;
use crate::auth::session::{FlashKind, TypedSession};
use crate::client_ip::ClientIp;
use crate::db::users;
use crate::domain::{EmailAddress, SignInFrom};
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::services::people::FirstAccount;
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
    from: SignInFrom,
) -> Result<HttpResponse, AppError> {
    if setup_done(&state).await? {
        return Err(AppError::Conflict(
            "Setup is already complete. Sign in instead.".into(),
        ));
    }
    let values = SetupValues {
        account_name: form.get("account_name").trim().to_string(),
        email: EmailAddress::normalise(form.get("email")),
    };
    let (email, new_password) = match check_setup(&state, &form, &values) {
        Ok(valid) => valid,
        Err(errors) => {
            return views::render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &SetupPage {
                    layout: Layout::new("Set up Sesame Tokens", "setup", None, &session)?,
                    values,
                    errors,
                },
            )
        }
    };
    let first = FirstAccount {
        account_name: values.account_name,
        email,
        password_hash: password::hash_queued(new_password).await?,
        ip: ip.text(),
    };
    let user_id = state.people.set_up(first).await?;
    if let Ok(mut code) = state.setup_code.lock() {
        *code = None;
    }
    session.sign_in(&user_id, state.clock.now(), &from)?;
    state.sessions.remember_device(user_id, from).await?;
    session.flash(
        FlashKind::Success,
        "Your account is ready. Add your first API token.",
    )?;
    Ok(views::see_other("/dashboard"))
}

/// The setup form's errors, or the first admin's address and password.
fn check_setup(
    state: &AppState,
    form: &PostedForm,
    values: &SetupValues,
) -> Result<(EmailAddress, String), SetupErrors> {
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
    let address = EmailAddress::parse(&values.email);
    errors.email = address.as_ref().err().map(ToString::to_string);
    let new_password = form.get("password");
    errors.password = password::check_new(new_password, &[&values.email])
        .err()
        .or_else(|| {
            (new_password != form.get("password_confirm"))
                .then(|| "The two passwords differ.".to_string())
        });
    match address {
        Ok(address)
            if errors.form.is_none()
                && errors.setup_code.is_none()
                && errors.account_name.is_none()
                && errors.password.is_none() =>
        {
            Ok((address, new_password.to_string()))
        }
        _ => Err(errors),
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
