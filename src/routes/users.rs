//! Users: admins invite people by e-mail, change roles, disable and enable accounts. The
//! last active admin of an account can be neither demoted nor disabled.

use crate::auth::guards::{AdminUser, CurrentUser};
use crate::auth::one_time;
use crate::auth::session::{FlashKind, TypedSession};
use crate::client_ip::ClientIp;
use crate::db::users::{self, PageAt, Role, UserRow};
use crate::db::{self, accounts, handoffs, invitations};
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::notify::messages::{self, PasswordLink};
use crate::state::AppState;
use crate::views::{self, Layout, TimeView};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::Duration;

pub const INVITE_VALID_HOURS: i64 = 72;

pub struct UserView {
    pub id: String,
    pub email: String,
    pub role: String,
    pub status: &'static str,
    pub created: TimeView,
    pub is_self: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
pub struct UsersPage {
    pub layout: Layout,
    pub users: Vec<UserView>,
    pub invitations: Vec<InvitationView>,
    pub prev_url: Option<String>,
    pub next_url: Option<String>,
    pub email: String,
    pub role: String,
    pub error: Option<String>,
}

pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: String,
    pub sent: TimeView,
    pub expires: TimeView,
    pub expired: bool,
}

/// Open invitations listed at most (the oldest beyond are still valid, and can be sent
/// again by inviting the address again).
const MAX_INVITATIONS_SHOWN: i64 = 100;

/// Users shown per page.
const USERS_PER_PAGE: i64 = 50;

/// `?after=EMAIL` or `?before=EMAIL`: the page after or before an address (keyset).
#[derive(serde::Deserialize, Default)]
pub struct UsersQuery {
    pub after: Option<String>,
    pub before: Option<String>,
}

impl UsersQuery {
    fn page_at(&self) -> PageAt {
        match (&self.after, &self.before) {
            (Some(after), _) => PageAt::After(after.clone()),
            (None, Some(before)) => PageAt::Before(before.clone()),
            (None, None) => PageAt::First,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn users_page(
    state: &AppState,
    user: &CurrentUser,
    session: &TypedSession,
    status: StatusCode,
    at: PageAt,
    email: String,
    role: String,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let account_id = user.account_id.clone();
    let seek = at.clone();
    // One more than a page tells whether another page lies beyond.
    let first_page = matches!(at, PageAt::First);
    let (mut rows, pending) = state
        .db(move |conn| {
            let rows = users::list(conn, &account_id, &seek, USERS_PER_PAGE + 1)?;
            // Open invitations head the first page.
            let pending = if first_page {
                invitations::list_open(conn, &account_id, MAX_INVITATIONS_SHOWN)?
            } else {
                Vec::new()
            };
            Ok((rows, pending))
        })
        .await?;
    let more = rows.len() as i64 > USERS_PER_PAGE;
    if more {
        match at {
            PageAt::Before(_) => drop(rows.remove(0)),
            _ => drop(rows.pop()),
        }
    }
    let (has_prev, has_next) = match at {
        PageAt::First => (false, more),
        PageAt::After(_) => (true, more),
        PageAt::Before(_) => (more, true),
    };
    let link = |key: &str, email: &str| {
        format!(
            "/users?{key}={}",
            url::form_urlencoded::byte_serialize(email.as_bytes()).collect::<String>()
        )
    };
    let prev_url = rows
        .first()
        .filter(|_| has_prev)
        .map(|r| link("before", &r.email));
    let next_url = rows
        .last()
        .filter(|_| has_next)
        .map(|r| link("after", &r.email));
    let users = rows
        .into_iter()
        .map(|row| UserView {
            status: if row.disabled { "disabled" } else { "active" },
            created: TimeView::new(row.created_at, now),
            is_self: row.id == user.id,
            id: row.id,
            email: row.email,
            role: row.role,
        })
        .collect();
    let invitations = pending
        .into_iter()
        .map(|i| InvitationView {
            expired: i.expires_at <= now,
            expires: TimeView::new(i.expires_at, now),
            sent: TimeView::new(i.created_at, now),
            id: i.id,
            email: i.email,
            role: i.role,
        })
        .collect();
    views::render(
        status,
        &UsersPage {
            layout: Layout::new("Users", "users", Some(user), session)?,
            users,
            invitations,
            prev_url,
            next_url,
            email,
            role,
            error,
        },
    )
}

pub async fn list_users(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    query: web::Query<UsersQuery>,
) -> Result<HttpResponse, AppError> {
    users_page(
        &state,
        &user,
        &session,
        StatusCode::OK,
        query.page_at(),
        String::new(),
        "member".into(),
        None,
    )
    .await
}

/// Invites a person (or sends a new link to someone invited before).
pub async fn invite_user(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let email = crate::routes::setup::normalise_email(form.get("email"));
    let role_text = form.get("role").to_string();
    let role = Role::parse(&role_text);
    let error = if form.too_large || crate::routes::setup::check_email(&email).is_err() {
        Some("Enter an e-mail address like name@example.com.".to_string())
    } else if role.is_none() {
        Some("Choose a role: admin, support or member.".to_string())
    } else {
        None
    };
    // Making someone an admin is a role change: it needs a recent password too.
    if role == Some(Role::Admin) {
        if let Some(prompt) =
            crate::auth::sudo::require(&state, &user, &session, &form, "/users", &["email", "role"])
                .await?
        {
            return Ok(prompt);
        }
    }
    let (Some(role), None) = (role, &error) else {
        return users_page(
            &state,
            &user,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            PageAt::First,
            email,
            role_text,
            error,
        )
        .await;
    };
    let now = state.clock.now();
    let (actor, invitee, ip) = (user.clone(), email.clone(), ip.text());
    let code = state
        .db(move |conn| {
            db::transaction(conn, |conn| {
                send_invitation(
                    conn,
                    &actor,
                    &invitee,
                    role,
                    now,
                    ip.as_deref(),
                    "user.invited",
                )
            })
        })
        .await?;
    let Some((code, expires_at)) = code else {
        let error = Some(format!("{email} is already a user of this account."));
        return users_page(
            &state,
            &user,
            &session,
            StatusCode::CONFLICT,
            PageAt::First,
            email,
            role_text,
            error,
        )
        .await;
    };
    mail_invitation(&state, &user, &session, &email, role, &code, expires_at).await?;
    Ok(views::see_other("/users"))
}

/// Invites the address to the actor's account (or renews its open invitation): a new
/// link, valid 72 hours, audited as `action`. The link's code and expiry; None when the
/// address is already a user of the account. Only this account's own users count: whether
/// the address belongs to someone elsewhere is not this admin's to learn (the invitee finds
/// out on accepting).
fn send_invitation(
    conn: &mut db::DbConn,
    actor: &CurrentUser,
    email: &str,
    role: Role,
    now: chrono::NaiveDateTime,
    ip: Option<&str>,
    action: &str,
) -> Result<Option<(String, chrono::NaiveDateTime)>, AppError> {
    accounts::lock(conn, &actor.account_id)?;
    if users::exists_in_account(conn, &actor.account_id, email)? {
        return Ok(None);
    }
    let expires_at = now + Duration::hours(INVITE_VALID_HOURS);
    let (code, code_hash) = one_time::new_code();
    invitations::send(
        conn,
        &invitations::NewInvitation {
            account_id: &actor.account_id,
            email,
            role: role.as_str(),
            invited_by: &actor.id,
            code_hash: &code_hash,
            expires_at,
        },
        now,
    )?;
    let detail = format!("{email} as {}", role.as_str());
    super::audit_by(conn, actor, action, None, &detail, ip, now)?;
    Ok(Some((code, expires_at)))
}

/// Sends the invitation e-mail now (only the link's hash may be stored, so not through
/// the outbox) and says how it went.
#[allow(clippy::too_many_arguments)]
async fn mail_invitation(
    state: &AppState,
    user: &CurrentUser,
    session: &TypedSession,
    email: &str,
    role: Role,
    code: &str,
    expires_at: chrono::NaiveDateTime,
) -> Result<(), AppError> {
    let url = crate::notify::direct::link_url(&state.settings.base_url, "invite", code)
        .map_err(AppError::Internal)?;
    let message = messages::password_link(&PasswordLink {
        account_name: &user.account_name,
        invited_by: Some(&user.email),
        role: role.as_str(),
        url: &url,
        expires_at,
    })
    .map_err(|e| AppError::internal(format!("e-mail template: {e}")))?;
    let (notifier, to) = (state.notifier.clone(), email.to_string());
    let sent = web::block(move || notifier.send_now(&to, &message))
        .await
        .map_err(|_| AppError::internal("the e-mail task was cancelled"))?;
    match sent {
        Ok(()) => session.flash(FlashKind::Success, format!("Invitation sent to {email}."))?,
        Err(error) => {
            tracing::warn!(%error, "invitation e-mail not sent");
            session.flash(
                FlashKind::Error,
                format!("The invitation to {email} is saved, but its e-mail could not be sent. Send it again to retry."),
            )?;
        }
    }
    Ok(())
}

/// Sends an open invitation again: a new link, a new 72 hours (the old link stops
/// working). An admin invitation asks for a recent password, like inviting one.
pub async fn resend_invitation(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let id = super::path_id(path)?;
    let (account_id, lookup) = (user.account_id.clone(), id.clone());
    let invitation = state
        .db(move |conn| Ok(invitations::find_in_account(conn, &account_id, &lookup)?))
        .await?
        .filter(|i| i.accepted_at.is_none() && i.cancelled_at.is_none())
        .ok_or(AppError::NotFound("There is no open invitation like this."))?;
    let role = Role::parse(&invitation.role).ok_or_else(|| AppError::internal("unknown role"))?;
    if role == Role::Admin {
        let action = format!("/users/invitations/{id}/resend");
        if let Some(prompt) =
            crate::auth::sudo::require(&state, &user, &session, &form, &action, &[]).await?
        {
            return Ok(prompt);
        }
    }
    let now = state.clock.now();
    let (actor, email, ip) = (user.clone(), invitation.email.clone(), ip.text());
    let (code, expires_at) = state
        .db(move |conn| {
            db::transaction(conn, |conn| {
                send_invitation(
                    conn,
                    &actor,
                    &email,
                    role,
                    now,
                    ip.as_deref(),
                    "user.invitation_resent",
                )
            })
        })
        .await?
        .ok_or_else(|| {
            AppError::Conflict(format!(
                "{} has joined meanwhile: they are a user of this account.",
                invitation.email
            ))
        })?;
    mail_invitation(
        &state,
        &user,
        &session,
        &invitation.email,
        role,
        &code,
        expires_at,
    )
    .await?;
    Ok(views::see_other("/users"))
}

/// Cancels an open invitation: its link stops working at once.
pub async fn cancel_invitation(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    _form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let id = super::path_id(path)?;
    let now = state.clock.now();
    let (actor, ip) = (user.clone(), ip.text());
    let email = state
        .db(move |conn| {
            db::transaction(conn, |conn| {
                let invitation = invitations::find_in_account(conn, &actor.account_id, &id)?
                    .ok_or(AppError::NotFound("There is no open invitation like this."))?;
                if !invitations::cancel(conn, &actor.account_id, &id, now)? {
                    return Err(AppError::NotFound(
                        "This invitation was already accepted or cancelled.",
                    ));
                }
                super::audit_by(
                    conn,
                    &actor,
                    "user.invitation_cancelled",
                    None,
                    &invitation.email,
                    ip.as_deref(),
                    now,
                )?;
                Ok(invitation.email)
            })
        })
        .await?;
    session.flash(
        FlashKind::Success,
        format!("The invitation to {email} is cancelled: its link no longer works."),
    )?;
    Ok(views::see_other("/users"))
}

/// A change to another user, checked against the last-admin rule inside the transaction.
enum Change {
    Role(Role),
    Disable,
    Enable,
}

async fn change_user(
    state: &AppState,
    user: &CurrentUser,
    session: &TypedSession,
    id: String,
    change: Change,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let (actor, ip) = (user.clone(), ip.text());
    let message = state
        .db(move |conn| {
            db::transaction(conn, |conn| {
                accounts::lock(conn, &actor.account_id)?;
                let target: UserRow = users::find_in_account(conn, &actor.account_id, &id)?
                    .ok_or_else(AppError::not_found)?;
                let active_admin = target.role == Role::Admin.as_str() && !target.disabled;
                let loses_admin = match &change {
                    Change::Role(role) => *role != Role::Admin,
                    Change::Disable => true,
                    Change::Enable => false,
                };
                if active_admin
                    && loses_admin
                    && users::count_active_admins(conn, &actor.account_id)? <= 1
                {
                    return Err(AppError::Conflict(
                    "This is the account's last active admin: make someone else an admin first."
                        .into(),
                ));
                }
                let (action, detail, message) = match change {
                    Change::Role(role) => {
                        users::set_role(conn, &id, role)?;
                        let detail = format!(
                            "{}: {} \u{2192} {}",
                            target.email,
                            target.role,
                            role.as_str()
                        );
                        (
                            "user.role_changed",
                            detail,
                            format!("{} is now {}.", target.email, role.as_str()),
                        )
                    }
                    Change::Disable => {
                        if target.id == actor.id {
                            return Err(AppError::Conflict("You cannot disable yourself.".into()));
                        }
                        users::set_disabled(conn, &id, true)?;
                        // Links they made must not outlive their access.
                        let voided = handoffs::cancel_made_by(conn, &id, now)?;
                        let detail = match voided {
                            0 => target.email.clone(),
                            n => format!("{}; {n} open hand-off link(s) cancelled", target.email),
                        };
                        (
                            "user.disabled",
                            detail,
                            format!("{} is disabled and signed out.", target.email),
                        )
                    }
                    Change::Enable => {
                        users::set_disabled(conn, &id, false)?;
                        (
                            "user.enabled",
                            target.email.clone(),
                            format!("{} is enabled again.", target.email),
                        )
                    }
                };
                super::audit_by(conn, &actor, action, None, &detail, ip.as_deref(), now)?;
                Ok(message)
            })
        })
        .await?;
    session.flash(FlashKind::Success, message)?;
    Ok(views::see_other("/users"))
}

pub async fn change_role(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let id = super::path_id(path)?;
    let action = format!("/users/{id}/role");
    if let Some(prompt) =
        crate::auth::sudo::require(&state, &user, &session, &form, &action, &["role"]).await?
    {
        return Ok(prompt);
    }
    let Some(role) = Role::parse(form.get("role")) else {
        return users_page(
            &state,
            &user,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            PageAt::First,
            String::new(),
            "member".into(),
            Some("Choose a role: admin, support or member.".into()),
        )
        .await;
    };
    change_user(&state, &user, &session, id, Change::Role(role), ip).await
}

pub async fn disable_user(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let id = super::path_id(path)?;
    let action = format!("/users/{id}/disable");
    sudo_then_change(
        &state,
        &user,
        &session,
        &form,
        &action,
        id,
        Change::Disable,
        ip,
    )
    .await
}

pub async fn enable_user(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let id = super::path_id(path)?;
    let action = format!("/users/{id}/enable");
    sudo_then_change(
        &state,
        &user,
        &session,
        &form,
        &action,
        id,
        Change::Enable,
        ip,
    )
    .await
}

/// Disabling and enabling change who holds which rights, like a role change: they ask for a
/// recent password too (re-enabling an admin gives admin rights back).
#[allow(clippy::too_many_arguments)]
async fn sudo_then_change(
    state: &AppState,
    user: &CurrentUser,
    session: &TypedSession,
    form: &PostedForm,
    action: &str,
    id: String,
    change: Change,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    if let Some(prompt) =
        crate::auth::sudo::require(state, user, session, form, action, &[]).await?
    {
        return Ok(prompt);
    }
    change_user(state, user, session, id, change, ip).await
}
