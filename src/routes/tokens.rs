//! API Tokens: list, add, show, update, retrieve credentials, revoke.

use super::path_id;
use super::token_view::{views, TokenView};
use crate::auth::guards::{AdminUser, Claim, CurrentUser, ReviewerUser};
use crate::auth::session::{FlashKind, TypedSession};
use crate::auth::sudo;
use crate::client_ip::ClientIp;
use crate::db::{self, accounts, handoffs, tokens};
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::notify::messages::{self, TokenCreated};
use crate::state::AppState;
use crate::tokens::expiry;
use crate::tokens::input::{TokenFormErrors, TokenFormValues};
use crate::tokens::lists::AccountAt;
use crate::tokens::secret::{self, Password};
use crate::views::{self, Layout, Pagination, TimeView, PAGE_SIZE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDateTime};

pub const MAX_REASON_CHARS: usize = 500;

#[derive(serde::Deserialize)]
pub struct ListQuery {
    pub page: Option<String>,
    pub q: Option<String>,
}

#[derive(Template)]
#[template(path = "tokens/list.html")]
pub struct TokenListPage {
    pub layout: Layout,
    pub tokens: Vec<TokenView>,
    pub q: String,
    pub pagination: Pagination,
}

pub async fn list_tokens(
    claim: Claim,
    state: web::Data<AppState>,
    session: TypedSession,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let q = query
        .q
        .as_deref()
        .unwrap_or("")
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect::<String>();
    let page = Pagination::requested(query.page.as_deref());
    let search = (!q.is_empty()).then(|| q.clone());
    let lists = state.clone();
    // The user and the page in one database task (see `Claim`).
    let (user, (tokens, total)) = claim
        .run(&state, move |conn, user| {
            user.may_review()?;
            let (rows, total) = lists.token_lists.active_page(
                conn,
                AccountAt {
                    id: &user.account_id,
                    version: user.account.version,
                },
                now,
                search.as_deref(),
                Pagination::offset(page),
                PAGE_SIZE,
            )?;
            Ok((views(rows, now), total))
        })
        .await?;
    let extra = if q.is_empty() {
        String::new()
    } else {
        format!(
            "&q={}",
            url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        )
    };
    let pagination = Pagination::new("/tokens", &extra, page, total);
    if let Some(last) = pagination.beyond_end() {
        return Ok(views::see_other(last));
    }
    views::ok(&TokenListPage {
        layout: Layout::new("API Tokens", "tokens", Some(&user), &session)?,
        tokens,
        pagination,
        q,
    })
}

#[derive(Template)]
#[template(path = "tokens/new.html")]
pub struct NewTokenPage {
    pub layout: Layout,
    pub values: TokenFormValues,
    pub errors: TokenFormErrors,
    pub presets: Vec<(&'static str, String)>,
    pub today: String,
    pub max_date: String,
    pub recommendation: &'static str,
    pub recommended_max_days: i64,
    /// Renew: the name of the token being renewed, and whether it still works.
    pub renewing: Option<(String, bool)>,
}

impl NewTokenPage {
    fn new(
        layout: Layout,
        values: TokenFormValues,
        errors: TokenFormErrors,
        now: NaiveDateTime,
    ) -> Self {
        let presets = expiry::PRESETS
            .iter()
            .map(|(key, days)| {
                let until = (now + Duration::days(*days)).format("%b %-d, %Y");
                (*key, format!("{days} days (until {until})"))
            })
            .collect();
        Self {
            layout,
            values,
            errors,
            presets,
            today: now.date().to_string(),
            max_date: (now.date() + Duration::days(expiry::MAX_DAYS)).to_string(),
            recommendation: expiry::RECOMMENDATION,
            recommended_max_days: expiry::RECOMMENDED_MAX_DAYS,
            renewing: None,
        }
    }

    /// A renewal of a token that still works offers what to do with it.
    pub fn offer_revoke_choice(&self) -> bool {
        !self.values.renews.is_empty() && self.renewing.as_ref().is_none_or(|(_, active)| *active)
    }

    fn renewing(mut self, token: &TokenView) -> Self {
        self.renewing = Some((token.name.clone(), token.active));
        self
    }

    pub fn is_selected(&self, key: &str) -> bool {
        self.values.expires_in == key
    }
}

pub async fn new_token_form(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let values = TokenFormValues {
        expires_in: "30d".into(),
        ..Default::default()
    };
    let layout = Layout::new("Add Token", "tokens", Some(&user), &session)?;
    views::ok(&NewTokenPage::new(
        layout,
        values,
        TokenFormErrors::default(),
        state.clock.now(),
    ))
}

#[derive(Template)]
#[template(path = "tokens/credentials.html")]
pub struct CredentialsPage {
    pub layout: Layout,
    pub token_id: String,
    pub name: String,
    pub username: String,
    pub password: Password,
    pub just_created: bool,
    pub expires: Option<TimeView>,
    pub beyond_recommendation: bool,
}

pub async fn create_token(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let values = TokenFormValues::from_posted(&form);
    let input = match values.new_token(&form, now) {
        Ok(input) => input,
        Err(errors) => return new_token_form_again(&user, &session, values, errors, now),
    };
    // Renew: which token this replaces, and when that one is revoked.
    let renewal = match values.renews.as_str() {
        "" => None,
        raw => {
            let old = uuid::Uuid::parse_str(raw)
                .map_err(|_| AppError::not_found())?
                .to_string();
            let when = match values.revoke_old.as_str() {
                "now" => RevokeOld::Now,
                "keep" => RevokeOld::Keep,
                _ => RevokeOld::AtFirstUse,
            };
            Some((old, when))
        }
    };
    let id = db::new_id();
    let username = secret::generate_username();
    let password = secret::generate_password();
    let secret_hmac = state.crypto.hash(password.expose());
    let secret_enc = state.crypto.encrypt(&id, &password);

    let (token_id, token_user, details, expires_at) = (
        id.clone(),
        username.clone(),
        input.details.clone(),
        input.expires_at,
    );
    let actor = user.clone();
    let ip = ip.text();
    let base_url = state.settings.base_url.clone();
    let renewing = renewal.clone();
    let cache = state.check_cache.clone();
    let created = state
        .db(move |conn| {
            crate::db::token_writes::write(conn, cache.as_deref(), |conn| {
                let version = accounts::lock(conn, &actor.account_id)?;
                // A renewal may share its predecessor's name while that one still works.
                let mut name_shared_with = None;
                if let Some((old_id, when)) = &renewing {
                    let old = tokens::find(conn, &actor.account_id, old_id)?
                        .ok_or_else(AppError::not_found)?;
                    if old.revoked_at.is_some() {
                        return Err(AppError::Conflict(
                            "A revoked token cannot be renewed; add a new token instead.".into(),
                        ));
                    }
                    if old.is_active(now) {
                        if *when == RevokeOld::Now {
                            tokens::revoke(
                                conn,
                                old_id,
                                &actor.id,
                                Some("replaced by its renewal"),
                                now,
                                version,
                            )?;
                            super::audit_by(
                                conn,
                                &actor,
                                "token.revoke",
                                Some(old_id),
                                "reason: replaced by its renewal",
                                ip.as_deref(),
                                now,
                            )?;
                        } else {
                            name_shared_with = Some(old_id.as_str());
                        }
                    }
                }
                if tokens::name_in_use(
                    conn,
                    &actor.account_id,
                    &details.name,
                    now,
                    name_shared_with,
                )? {
                    return Ok(false);
                }
                tokens::insert(
                    conn,
                    &tokens::NewToken {
                        id: &token_id,
                        account_id: &actor.account_id,
                        name: &details.name,
                        description: &details.description,
                        username: &token_user,
                        secret_hmac: &secret_hmac,
                        secret_enc: &secret_enc,
                        created_by: &actor.id,
                        expires_at,
                        replaces_id: renewing.as_ref().map(|(old, _)| old.as_str()),
                        revoke_replaced_on_use: name_shared_with.is_some()
                            && matches!(renewing, Some((_, RevokeOld::AtFirstUse))),
                        version,
                    },
                    &details.networks,
                    now,
                )?;
                let detail = format!(
                    "created, expires {}, allowed IPs: {}",
                    expires_at.format("%Y-%m-%d %H:%M UTC"),
                    networks_text(&details.networks)
                );
                super::audit_by(
                    conn,
                    &actor,
                    "token.create",
                    Some(&token_id),
                    &detail,
                    ip.as_deref(),
                    now,
                )?;
                // The admins' "new token" e-mails, in the same transaction.
                let notice = TokenCreated {
                    account_name: &actor.account_name,
                    token_id: &token_id,
                    name: &details.name,
                    creator: &actor.email,
                    created_at: now,
                    expires_at,
                    networks: &details.networks,
                };
                messages::queue_token_created(conn, &base_url, &actor.account_id, &notice, now)?;
                Ok(true)
            })
        })
        .await?;
    if !created {
        let errors = TokenFormErrors {
            name: Some(name_taken(&input.details.name)),
            ..Default::default()
        };
        return new_token_form_again(&user, &session, values, errors, now);
    }
    state.notifier.wake();
    tracing::info!(token_id = %id, account_id = %user.account_id, "token created");
    views::ok(&CredentialsPage {
        layout: Layout::new("Token created", "tokens", Some(&user), &session)?,
        token_id: id,
        name: input.details.name,
        username,
        password,
        just_created: true,
        expires: Some(TimeView::new(input.expires_at, now)),
        beyond_recommendation: expiry::beyond_recommendation(input.expires_at, now),
    })
}

/// Renew: what happens to the token being replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RevokeOld {
    Now,
    AtFirstUse,
    Keep,
}

/// Add Token, pre-filled from an active or expired token, to make its successor.
pub async fn renew_token_form(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let token = load_token(&state, &user, path_id(path)?).await?;
    if token.status == "revoked" {
        return Err(AppError::Conflict(
            "A revoked token cannot be renewed; add a new token instead.".into(),
        ));
    }
    let values = TokenFormValues {
        name: token.name.clone(),
        description: token.description.clone(),
        allowed_ips: token.networks_text(),
        expires_in: "30d".into(),
        renews: token.id.clone(),
        revoke_old: "first_use".into(),
        ..Default::default()
    };
    let layout = Layout::new(
        format!("Renew {}", token.name),
        "tokens",
        Some(&user),
        &session,
    )?;
    views::ok(
        &NewTokenPage::new(
            layout,
            values,
            TokenFormErrors::default(),
            state.clock.now(),
        )
        .renewing(&token),
    )
}

fn name_taken(name: &str) -> String {
    format!("An active token named \u{201c}{name}\u{201d} already exists. Choose another name.")
}

fn new_token_form_again(
    user: &CurrentUser,
    session: &TypedSession,
    values: TokenFormValues,
    errors: TokenFormErrors,
    now: NaiveDateTime,
) -> Result<HttpResponse, AppError> {
    let layout = Layout::new("Add Token", "tokens", Some(user), session)?;
    views::render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &NewTokenPage::new(layout, values, errors, now),
    )
}

#[derive(Template)]
#[template(path = "tokens/show.html")]
pub struct TokenPage {
    pub layout: Layout,
    pub token: TokenView,
    pub can_manage: bool,
    pub values: TokenFormValues,
    pub errors: TokenFormErrors,
    /// What was wrong with the hand-off form, if that was posted.
    pub handoff_error: Option<&'static str>,
    /// An admin may renew an active or expired (not a revoked) token.
    pub can_renew: bool,
    /// Hand-off links that can still be opened.
    pub links: Vec<OpenLinkView>,
}

pub struct OpenLinkView {
    pub id: String,
    pub made_by: String,
    pub sent_to: Option<String>,
    pub created: TimeView,
    pub expires: TimeView,
}

/// The token page again with the hand-off form's error (422).
pub(crate) async fn token_page_with_handoff_error(
    state: &AppState,
    user: &CurrentUser,
    session: &TypedSession,
    id: String,
    error: &'static str,
) -> Result<HttpResponse, AppError> {
    let (token, links) = load_token_page(state, user, id).await?;
    if !token.active {
        return Err(inactive_conflict());
    }
    let mut page = token_page(
        user,
        session,
        token,
        links,
        None,
        TokenFormErrors::default(),
    )?;
    page.handoff_error = Some(error);
    views::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

async fn load_token(
    state: &AppState,
    user: &CurrentUser,
    id: String,
) -> Result<TokenView, AppError> {
    let now = state.clock.now();
    let account_id = user.account_id.clone();
    state
        .db(move |conn| {
            let rows = tokens::rows_in_order(conn, &account_id, std::slice::from_ref(&id))?;
            views(rows, now).pop().ok_or_else(AppError::not_found)
        })
        .await
}

/// The token and, while it is active, its open hand-off links.
async fn load_token_page(
    state: &AppState,
    user: &CurrentUser,
    id: String,
) -> Result<(TokenView, Vec<OpenLinkView>), AppError> {
    let now = state.clock.now();
    let account_id = user.account_id.clone();
    state
        .db(move |conn| {
            let rows = tokens::rows_in_order(conn, &account_id, std::slice::from_ref(&id))?;
            let token = views(rows, now).pop().ok_or_else(AppError::not_found)?;
            let links = if token.active {
                handoffs::list_open(conn, &account_id, &id, now)?
            } else {
                Vec::new()
            };
            let links = links
                .into_iter()
                .map(|link| OpenLinkView {
                    id: link.id,
                    made_by: link.made_by,
                    sent_to: link.sent_to,
                    created: TimeView::new(link.created_at, now),
                    expires: TimeView::new(link.expires_at, now),
                })
                .collect();
            Ok((token, links))
        })
        .await
}

fn token_page(
    user: &CurrentUser,
    session: &TypedSession,
    token: TokenView,
    links: Vec<OpenLinkView>,
    values: Option<TokenFormValues>,
    errors: TokenFormErrors,
) -> Result<TokenPage, AppError> {
    let values = values.unwrap_or_else(|| TokenFormValues {
        name: token.name.clone(),
        description: token.description.clone(),
        allowed_ips: token.networks_text(),
        ..Default::default()
    });
    Ok(TokenPage {
        layout: Layout::new(token.name.clone(), "tokens", Some(user), session)?,
        can_manage: user.is_admin() && token.active,
        can_renew: user.is_admin() && token.status != "revoked",
        token,
        values,
        errors,
        handoff_error: None,
        links,
    })
}

pub async fn show_token(
    ReviewerUser(user): ReviewerUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (token, links) = load_token_page(&state, &user, path_id(path)?).await?;
    views::ok(&token_page(
        &user,
        &session,
        token,
        links,
        None,
        TokenFormErrors::default(),
    )?)
}

pub async fn update_token(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let id = path_id(path)?;
    let now = state.clock.now();
    let values = TokenFormValues::from_posted(&form);
    let details = match values.details(&form) {
        Ok(details) => details,
        Err(errors) => return update_form_again(&state, &user, &session, id, values, errors).await,
    };
    let (actor, token_id, ip, wanted) = (user.clone(), id.clone(), ip.text(), details.clone());
    let cache = state.check_cache.clone();
    let outcome = state
        .db(move |conn| {
            crate::db::token_writes::write(conn, cache.as_deref(), |conn| {
                let version = accounts::lock(conn, &actor.account_id)?;
                let current = tokens::find(conn, &actor.account_id, &token_id)?
                    .ok_or_else(AppError::not_found)?;
                if !current.is_active(now) {
                    return Err(inactive_conflict());
                }
                if tokens::name_in_use(conn, &actor.account_id, &wanted.name, now, Some(&token_id))?
                {
                    return Ok(UpdateOutcome::NameTaken);
                }
                let networks: Vec<String> =
                    tokens::networks_of(conn, std::slice::from_ref(&token_id))?
                        .into_iter()
                        .map(|(_, network)| network)
                        .collect();
                let mut changed = Vec::new();
                if current.name != wanted.name {
                    changed.push(format!(
                        "name \u{201c}{}\u{201d} \u{2192} \u{201c}{}\u{201d}",
                        current.name, wanted.name
                    ));
                }
                if current.description != wanted.description {
                    changed.push("description".into());
                }
                if networks != wanted.networks {
                    changed.push(format!("allowed IPs: {}", networks_text(&wanted.networks)));
                }
                if changed.is_empty() {
                    return Ok(UpdateOutcome::Unchanged);
                }
                tokens::update_details(
                    conn,
                    &token_id,
                    &wanted.name,
                    &wanted.description,
                    &wanted.networks,
                    now,
                    version,
                )?;
                super::audit_by(
                    conn,
                    &actor,
                    "token.update",
                    Some(&token_id),
                    &changed.join("; "),
                    ip.as_deref(),
                    now,
                )?;
                Ok(UpdateOutcome::Updated)
            })
        })
        .await?;
    let message = match outcome {
        UpdateOutcome::Updated => "Token updated.",
        UpdateOutcome::Unchanged => "Nothing to change.",
        UpdateOutcome::NameTaken => {
            let errors = TokenFormErrors {
                name: Some(name_taken(&details.name)),
                ..Default::default()
            };
            return update_form_again(&state, &user, &session, id, values, errors).await;
        }
    };
    session.flash(FlashKind::Success, message)?;
    Ok(views::see_other(&format!("/tokens/{id}")))
}

enum UpdateOutcome {
    Updated,
    Unchanged,
    NameTaken,
}

pub(crate) fn inactive_conflict() -> AppError {
    AppError::Conflict("This token is no longer active; it cannot be changed.".into())
}

fn networks_text(networks: &[String]) -> String {
    if networks.is_empty() {
        "any".into()
    } else {
        networks.join(", ")
    }
}

/// The token page again with the Update form's errors: 404 and 409 still come first.
async fn update_form_again(
    state: &AppState,
    user: &CurrentUser,
    session: &TypedSession,
    id: String,
    values: TokenFormValues,
    errors: TokenFormErrors,
) -> Result<HttpResponse, AppError> {
    let (token, links) = load_token_page(state, user, id).await?;
    if !token.active {
        return Err(inactive_conflict());
    }
    views::render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &token_page(user, session, token, links, Some(values), errors)?,
    )
}

pub async fn retrieve_credentials(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let id = path_id(path)?;
    let action = format!("/tokens/{id}/credentials");
    if let Some(prompt) = sudo::require(&state, &user, &session, &form, &action, &[]).await? {
        return Ok(prompt);
    }
    let now = state.clock.now();
    let (actor, token_id, ip, keys) = (user.clone(), id.clone(), ip.text(), state.clone());
    let (stored, password) = state
        .db(move |conn| {
            let stored = tokens::find_secret(conn, &actor.account_id, &token_id)?
                .ok_or_else(AppError::not_found)?;
            if !tokens::is_active(stored.expires_at, stored.revoked_at, now) {
                return Err(inactive_conflict());
            }
            // Decrypt before recording the view, so the log never claims a view that failed.
            let password = keys
                .crypto
                .decrypt(&token_id, &stored.secret_enc)
                .map_err(|e| AppError::internal(format!("token {token_id}: {e}")))?;
            super::audit_by(
                conn,
                &actor,
                "token.credentials_viewed",
                Some(&token_id),
                "",
                ip.as_deref(),
                now,
            )?;
            Ok((stored, password))
        })
        .await?;
    views::ok(&CredentialsPage {
        layout: Layout::new("Token credentials", "tokens", Some(&user), &session)?,
        token_id: id,
        name: stored.name,
        username: stored.username,
        password,
        just_created: false,
        expires: Some(TimeView::new(stored.expires_at, now)),
        beyond_recommendation: false,
    })
}

#[derive(Template)]
#[template(path = "tokens/revoke.html")]
pub struct RevokePage {
    pub layout: Layout,
    pub token: TokenView,
    pub reason: String,
    pub error: Option<String>,
}

/// The confirmation step before a revoke (the token page also offers it inline).
pub async fn revoke_form(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let token = load_token(&state, &user, path_id(path)?).await?;
    if !token.active {
        return Err(inactive_conflict());
    }
    views::ok(&RevokePage {
        layout: Layout::new("Revoke token", "tokens", Some(&user), &session)?,
        token,
        reason: String::new(),
        error: None,
    })
}

pub async fn revoke_token(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let id = path_id(path)?;
    let now = state.clock.now();
    let reason = form.get("reason").trim().to_string();
    let error = if form.too_large || form.invalid_utf8("reason") {
        Some("The reason could not be read: use plain text.".to_string())
    } else if reason.chars().count() > MAX_REASON_CHARS {
        Some(format!("Use at most {MAX_REASON_CHARS} characters."))
    } else if reason
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some("The reason cannot contain control characters.".to_string())
    } else {
        None
    };
    if let Some(error) = error {
        let token = load_token(&state, &user, id).await?;
        if !token.active {
            return Err(inactive_conflict());
        }
        return views::render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &RevokePage {
                layout: Layout::new("Revoke token", "tokens", Some(&user), &session)?,
                token,
                reason,
                error: Some(error),
            },
        );
    }
    let (actor, token_id, ip) = (user.clone(), id.clone(), ip.text());
    let cache = state.check_cache.clone();
    let name = state
        .db(move |conn| {
            crate::db::token_writes::write(conn, cache.as_deref(), |conn| {
                let version = accounts::lock(conn, &actor.account_id)?;
                let token = tokens::find(conn, &actor.account_id, &token_id)?
                    .ok_or_else(AppError::not_found)?;
                let reason = (!reason.is_empty()).then_some(reason.as_str());
                if !tokens::revoke(conn, &token_id, &actor.id, reason, now, version)? {
                    return Err(inactive_conflict());
                }
                let detail = reason.map(|r| format!("reason: {r}")).unwrap_or_default();
                super::audit_by(
                    conn,
                    &actor,
                    "token.revoke",
                    Some(&token_id),
                    &detail,
                    ip.as_deref(),
                    now,
                )?;
                Ok(token.name)
            })
        })
        .await?;
    tracing::info!(token_id = %id, account_id = %user.account_id, "token revoked");
    session.flash(
        FlashKind::Success,
        format!("Token \u{201c}{name}\u{201d} revoked. It stopped working immediately."),
    )?;
    Ok(views::see_other("/tokens/inactive"))
}
