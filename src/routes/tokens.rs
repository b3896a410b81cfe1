//! API Tokens: list, add, show, update, retrieve credentials, revoke.

use super::path_ids::{parse_id, path_id};
use super::token_form::{TokenFormErrors, TokenFormValues};
use super::token_view::{views, TokenView};
use super::usage_view::{fill_calls, UsageView, DAYS_SHOWN};
use crate::auth::guards::{AdminUser, Claim, CurrentUser, ReviewerUser};
use crate::auth::session::{FlashKind, TypedSession};
use crate::auth::sudo;
use crate::client_ip::ClientIp;
use crate::db::tokens::ActiveFilter;
use crate::db::{accounts, handoffs, tokens, usage};
use crate::domain::token::check_note;
use crate::domain::TokenId;
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::services::tokens::{
    inactive_conflict, Creation, NewToken, Renewal, Revocation, RevokeOld, TokenUpdate, Update,
};
use crate::state::AppState;
use crate::tokens::expiry;
use crate::tokens::lists::AccountAt;
use crate::tokens::secret::Password;
use crate::views::{self, ApiUsage, Layout, Pagination, TimeView, PAGE_SIZE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDateTime};

pub const MAX_REASON_CHARS: usize = 500;

#[derive(serde::Deserialize)]
pub struct ListQuery {
    pub page: Option<String>,
    pub q: Option<String>,
    /// Only the tokens with no accepted call in this many days (1–90).
    pub unused: Option<String>,
}

/// The longest `unused` filter: usage is kept 90 days.
const MAX_UNUSED_DAYS: i64 = crate::db::usage::KEEP_DAYS;

/// `?unused=N`: a whole number of days from 1 to 90.
/// API Tokens' filter, from its query or the bulk form's copy of it: the search as typed
/// (trimmed, at most 100 characters), the unused days, and the filter they make.
pub(super) fn list_filter(
    q: Option<&str>,
    unused: Option<&str>,
    now: NaiveDateTime,
) -> Result<(String, Option<i64>, ActiveFilter), AppError> {
    let q = q
        .unwrap_or("")
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect::<String>();
    let unused = unused_days(unused)?;
    let filter = ActiveFilter {
        search: (!q.is_empty()).then(|| q.clone()),
        unused_since: unused.map(|days| usage::window_start(now, days)),
    };
    Ok((q, unused, filter))
}

fn unused_days(text: Option<&str>) -> Result<Option<i64>, AppError> {
    let Some(text) = text else { return Ok(None) };
    match text.trim().parse::<i64>() {
        Ok(days) if (1..=MAX_UNUSED_DAYS).contains(&days) => Ok(Some(days)),
        _ => Err(AppError::BadRequest(format!(
            "unused must be a whole number of days from 1 to {MAX_UNUSED_DAYS}."
        ))),
    }
}

#[derive(Template)]
#[template(path = "tokens/list.html")]
pub struct TokenListPage {
    pub layout: Layout,
    pub tokens: Vec<TokenView>,
    pub q: String,
    /// The `unused` filter's days, if any.
    pub unused: Option<i64>,
    pub pagination: Pagination,
}

impl TokenListPage {
    /// Admins tick tokens to revoke them together (`routes::bulk_revoke`).
    pub fn can_revoke(&self) -> bool {
        self.layout.user.as_ref().is_some_and(|user| user.is_admin)
    }
}

pub async fn list_tokens(
    claim: Claim,
    state: web::Data<AppState>,
    session: TypedSession,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let (q, unused, filter) = list_filter(query.q.as_deref(), query.unused.as_deref(), now)?;
    let page = Pagination::requested(query.page.as_deref());
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
                &filter,
                Pagination::offset(page),
                PAGE_SIZE,
            )?;
            let mut tokens = views(rows, now);
            fill_calls(conn, &mut tokens)?;
            Ok((tokens, total))
        })
        .await?;
    let mut extra = String::new();
    if !q.is_empty() {
        let q = url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>();
        extra.push_str(&format!("&q={q}"));
    }
    if let Some(days) = unused {
        extra.push_str(&format!("&unused={days}"));
    }
    let pagination = Pagination::new("/tokens", &extra, page, total);
    if let Some(last) = pagination.beyond_end() {
        return Ok(views::see_other(last));
    }
    views::ok(&TokenListPage {
        layout: Layout::new("API Tokens", "tokens", Some(&user), &session)?,
        tokens,
        pagination,
        q,
        unused,
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
    /// The account's longest lifetime (`/settings`), and the 3 months we recommend within it.
    pub max_days: i64,
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
        max_days: i64,
    ) -> Self {
        let presets = expiry::presets_within(max_days)
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
            max_date: (now.date() + Duration::days(max_days)).to_string(),
            max_days,
            recommended_max_days: expiry::RECOMMENDED_MAX_DAYS.min(max_days),
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
    let max_days = lifetime_policy(&state, &user).await?;
    let values = TokenFormValues {
        expires_in: expiry::default_choice(max_days).into(),
        ..Default::default()
    };
    let layout = Layout::new("Add Token", "tokens", Some(&user), &session)?;
    views::ok(&NewTokenPage::new(
        layout,
        values,
        TokenFormErrors::default(),
        state.clock.now(),
        max_days,
    ))
}

/// The account's longest token lifetime, in days (`/settings`).
pub(super) async fn lifetime_policy(state: &AppState, user: &CurrentUser) -> Result<i64, AppError> {
    let account_id = user.account_id.clone();
    state
        .db(move |conn| Ok(accounts::max_lifetime_days(conn, &account_id)?))
        .await
}

#[derive(Template)]
#[template(path = "tokens/credentials.html")]
pub struct CredentialsPage {
    pub layout: Layout,
    pub token_id: TokenId,
    pub name: String,
    pub username: String,
    pub password: Password,
    pub just_created: bool,
    pub expires: Option<TimeView>,
    pub beyond_recommendation: bool,
    pub api: ApiUsage,
    /// A renewal: what becomes of the token it replaces.
    pub renewed: Option<&'static str>,
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
    let max_days = lifetime_policy(&state, &user).await?;
    let input = match values.new_token(&form, now, max_days) {
        Ok(input) => input,
        Err(errors) => return new_token_form_again(&user, &session, values, errors, now, max_days),
    };
    let token = NewToken {
        actor: user.actor(&ip),
        details: input.details.clone(),
        expires_at: input.expires_at,
    };
    let creation = match values.renews.as_str() {
        "" => state.tokens.create(token).await?,
        replaces => {
            let renewal = Renewal {
                token,
                replaces: parse_id(replaces)?,
                old: RevokeOld::parse(&values.revoke_old),
            };
            state.tokens.renew(renewal).await?
        }
    };
    let Creation::Issued(issued) = creation else {
        let errors = TokenFormErrors {
            name: Some(name_taken(input.details.name.as_str())),
            ..Default::default()
        };
        return new_token_form_again(&user, &session, values, errors, now, max_days);
    };
    views::ok(&CredentialsPage {
        api: ApiUsage::new(&state.settings.base_url, &issued.username),
        layout: Layout::new(
            match values.renews.as_str() {
                "" => "Token created",
                _ => "Token renewed",
            },
            "tokens",
            Some(&user),
            &session,
        )?,
        token_id: issued.id,
        name: input.details.name.to_string(),
        username: issued.username,
        password: issued.password,
        just_created: true,
        renewed: (!values.renews.is_empty()).then(|| match RevokeOld::parse(&values.revoke_old) {
            RevokeOld::Now => "The token it replaces was revoked: it stopped working at once.",
            RevokeOld::AtFirstUse => {
                "The token it replaces works until this one is first used, then is revoked automatically."
            }
            RevokeOld::Keep => "The token it replaces keeps working until it expires or is revoked.",
        }),
        expires: Some(TimeView::new(input.expires_at, now)),
        beyond_recommendation: expiry::beyond_recommendation(input.expires_at, now),
    })
}

/// Add Token, pre-filled from an active or expired token, to make its successor.
pub async fn renew_token_form(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    // Any token, revoked ones too: renewing is how a leaked token is replaced (its
    // settings, new credentials), and the leak notice links here.
    let token = load_token(&state, &user, path_id(path)?).await?;
    let max_days = lifetime_policy(&state, &user).await?;
    let values = TokenFormValues {
        name: token.name.clone(),
        description: token.description.clone(),
        allowed_ips: token.networks_text(),
        expires_in: expiry::default_choice(max_days).into(),
        renews: token.id.to_string(),
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
            max_days,
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
    max_days: i64,
) -> Result<HttpResponse, AppError> {
    let layout = Layout::new("Add Token", "tokens", Some(user), session)?;
    views::render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &NewTokenPage::new(layout, values, errors, now, max_days),
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
    /// Its calls over the last 30 days.
    pub usage: UsageView,
    /// The token it replaces, and the one replacing it.
    pub renewals: tokens::Renewals,
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
    id: TokenId,
    error: &'static str,
) -> Result<HttpResponse, AppError> {
    let (token, extras) = load_token_page(state, user, id).await?;
    if !token.active {
        return Err(inactive_conflict());
    }
    let mut page = token_page(
        user,
        session,
        token,
        extras,
        None,
        TokenFormErrors::default(),
    )?;
    page.handoff_error = Some(error);
    views::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

async fn load_token(
    state: &AppState,
    user: &CurrentUser,
    id: TokenId,
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

/// What the token page shows beside the token.
struct TokenExtras {
    /// While it is active, its open hand-off links.
    links: Vec<OpenLinkView>,
    usage: UsageView,
    renewals: tokens::Renewals,
}

/// The token, its open hand-off links and its usage.
async fn load_token_page(
    state: &AppState,
    user: &CurrentUser,
    id: TokenId,
) -> Result<(TokenView, TokenExtras), AppError> {
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
            let days = usage::daily(conn, &id, usage::window_start(now, DAYS_SHOWN))?;
            let usage = UsageView::new(&days, now);
            let renewals = tokens::renewals(conn, &account_id, &id)?;
            Ok((
                token,
                TokenExtras {
                    links,
                    usage,
                    renewals,
                },
            ))
        })
        .await
}

fn token_page(
    user: &CurrentUser,
    session: &TypedSession,
    token: TokenView,
    extras: TokenExtras,
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
        can_renew: user.is_admin(),
        token,
        values,
        errors,
        handoff_error: None,
        links: extras.links,
        usage: extras.usage,
        renewals: extras.renewals,
    })
}

pub async fn show_token(
    ReviewerUser(user): ReviewerUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (token, extras) = load_token_page(&state, &user, path_id(path)?).await?;
    views::ok(&token_page(
        &user,
        &session,
        token,
        extras,
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
    let values = TokenFormValues::from_posted(&form);
    let details = match values.details(&form) {
        Ok(details) => details,
        Err(errors) => return update_form_again(&state, &user, &session, id, values, errors).await,
    };
    let update = TokenUpdate {
        actor: user.actor(&ip),
        token_id: id.clone(),
        details: details.clone(),
    };
    let message = match state.tokens.update(update).await? {
        Update::Changed => "Token updated.",
        Update::Unchanged => "Nothing to change.",
        Update::NameTaken => {
            let errors = TokenFormErrors {
                name: Some(name_taken(details.name.as_str())),
                ..Default::default()
            };
            return update_form_again(&state, &user, &session, id, values, errors).await;
        }
    };
    session.flash(FlashKind::Success, message)?;
    Ok(views::see_other(&format!("/tokens/{id}")))
}

/// The token page again with the Update form's errors: 404 and 409 still come first.
async fn update_form_again(
    state: &AppState,
    user: &CurrentUser,
    session: &TypedSession,
    id: TokenId,
    values: TokenFormValues,
    errors: TokenFormErrors,
) -> Result<HttpResponse, AppError> {
    let (token, extras) = load_token_page(state, user, id).await?;
    if !token.active {
        return Err(inactive_conflict());
    }
    views::render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &token_page(user, session, token, extras, Some(values), errors)?,
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
    let id: TokenId = path_id(path)?;
    let action = format!("/tokens/{id}/credentials");
    if let Some(prompt) = sudo::require(&state, &user, &session, &form, &action, &[]).await? {
        return Ok(prompt);
    }
    let revealed = state.tokens.reveal(user.actor(&ip), id.clone()).await?;
    views::ok(&CredentialsPage {
        api: ApiUsage::new(&state.settings.base_url, &revealed.username),
        layout: Layout::new("Token credentials", "tokens", Some(&user), &session)?,
        token_id: id,
        name: revealed.name,
        username: revealed.username,
        password: revealed.password,
        just_created: false,
        renewed: None,
        expires: Some(TimeView::new(revealed.expires_at, state.clock.now())),
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
    let reason = form.get("reason").trim().to_string();
    let error = if form.too_large || form.invalid_utf8("reason") {
        Some("The reason could not be read: use plain text.".to_string())
    } else {
        check_note(&reason, MAX_REASON_CHARS, "reason").err()
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
    let revocation = Revocation {
        actor: user.actor(&ip),
        token_id: id,
        reason,
    };
    let name = state.tokens.revoke(revocation).await?;
    session.flash(
        FlashKind::Success,
        format!("Token \u{201c}{name}\u{201d} revoked. It stopped working immediately."),
    )?;
    Ok(views::see_other("/tokens/inactive"))
}
