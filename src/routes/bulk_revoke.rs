//! `POST /tokens/revoke`: admins revoke the tokens ticked on API Tokens (repeated `ids`), or
//! every active token matching its filter (`all_matching=1` with the list's `q` and
//! `unused`), with one `reason`. No sudo: revoking only takes access away.

use super::path_ids::parse_id;
use super::tokens::{list_filter, MAX_REASON_CHARS};
use crate::auth::guards::AdminUser;
use crate::auth::session::{FlashKind, TypedSession};
use crate::client_ip::ClientIp;
use crate::domain::token::check_note;
use crate::domain::TokenId;
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::state::AppState;
use crate::views;
use actix_web::{web, HttpResponse};

/// More ids than this in one form is not a person ticking boxes (API Tokens shows 25 a
/// page; "all matching" sends none).
const MAX_IDS: usize = 1_000;

pub async fn revoke_tokens(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let reason = form.get("reason").trim().to_string();
    if form.too_large || form.invalid_utf8("reason") {
        return Err(AppError::BadRequest(
            "The reason could not be read: use plain text.".into(),
        ));
    }
    check_note(&reason, MAX_REASON_CHARS, "reason").map_err(AppError::BadRequest)?;
    let actor = user.actor(&ip);
    let ids: Vec<TokenId> = if form.get("all_matching") == "1" {
        let q = Some(form.get("q")).filter(|q| !q.is_empty());
        let unused = Some(form.get("unused")).filter(|u| !u.is_empty());
        let (_, _, filter) = list_filter(q, unused, state.clock.now())?;
        state.tokens.matching(&actor, filter).await?
    } else {
        let ids: Vec<&str> = form.all("ids").collect();
        if ids.len() > MAX_IDS {
            return Err(AppError::BadRequest(format!(
                "At most {MAX_IDS} tokens at once."
            )));
        }
        ids.into_iter().map(parse_id).collect::<Result<_, _>>()?
    };
    if ids.is_empty() {
        session.flash(FlashKind::Error, "Select the tokens to revoke first.")?;
        return Ok(views::see_other("/tokens"));
    }
    let asked = ids.len();
    let revoked = state.tokens.revoke_many(actor, ids, reason).await?;
    let mut message = match revoked {
        1 => "1 token revoked. It stopped working immediately.".to_string(),
        n => format!("{n} tokens revoked. They stopped working immediately."),
    };
    if revoked < asked {
        let passed = asked - revoked;
        message.push_str(&format!(
            " {passed} of those chosen were not active tokens of this account."
        ));
    }
    session.flash(FlashKind::Success, message)?;
    Ok(views::see_other("/tokens/inactive"))
}
