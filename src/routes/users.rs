//! Users: admins invite people by e-mail, change roles, disable and enable accounts. The
//! last active admin of an account can be neither demoted nor disabled.

use crate::auth::guards::{AdminUser, CurrentUser};
use crate::auth::session::{FlashKind, TypedSession};
use crate::client_ip::ClientIp;
use crate::db::invitations;
use crate::db::users::{self, PageAt, Role};
use crate::domain::EmailAddress;
use crate::domain::UserId;
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::services::people::{Change, Invite, Invited, UserChange};
use crate::state::AppState;
use crate::views::{self, Layout, TimeView};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub role: &'static str,
    pub status: &'static str,
    pub created: TimeView,
    pub is_self: bool,
    /// The account's only active admin: demoting or disabling them is refused, so those
    /// choices are disabled.
    pub last_admin: bool,
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
    pub role: &'static str,
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

/// Trims the extra row read to learn whether another page lies beyond, and links the
/// pages before and after (keyset, by address).
fn page_links(rows: &mut Vec<users::UserRow>, at: &PageAt) -> (Option<String>, Option<String>) {
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
    (prev_url, next_url)
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
    let (mut rows, pending, admins) = state
        .db(move |conn| {
            let rows = users::list(conn, &account_id, &seek, USERS_PER_PAGE + 1)?;
            let admins = users::count_active_admins(conn, &account_id)?;
            // Open invitations head the first page.
            let pending = if first_page {
                invitations::list_open(conn, &account_id, MAX_INVITATIONS_SHOWN)?
            } else {
                Vec::new()
            };
            Ok((rows, pending, admins))
        })
        .await?;
    let (prev_url, next_url) = page_links(&mut rows, &at);
    let users = rows
        .into_iter()
        .map(|row| UserView {
            status: if row.disabled { "disabled" } else { "active" },
            created: TimeView::new(row.created_at, now),
            is_self: row.id == user.id,
            last_admin: row.role == Role::Admin && !row.disabled && admins <= 1,
            id: row.id,
            email: row.email,
            role: row.role.as_str(),
        })
        .collect();
    let invitations = pending
        .into_iter()
        .map(|i| InvitationView {
            expired: i.expires_at <= now,
            expires: TimeView::new(i.expires_at, now),
            sent: TimeView::new(i.created_at, now),
            id: i.id,
            email: i.email.into_string(),
            role: i.role.as_str(),
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
        String::new(),
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
    let email = EmailAddress::normalise(form.get("email"));
    let address = EmailAddress::parse(&email).ok().filter(|_| !form.too_large);
    let role_text = form.get("role").to_string();
    let role = Role::parse(&role_text);
    let error = if address.is_none() {
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
    let (Some(role), Some(address), None) = (role, address, &error) else {
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
    let invite = Invite {
        actor: user.actor(&ip),
        email: address,
        role,
    };
    let invited = state.people.invite(invite).await?;
    if let Invited::AlreadyUser = invited {
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
    }
    flash_invitation(&session, &email, &invited)?;
    Ok(views::see_other("/users"))
}

/// Says how sending the invitation went.
fn flash_invitation(
    session: &TypedSession,
    email: &str,
    invited: &Invited,
) -> Result<(), AppError> {
    match invited {
        Invited::NotMailed => session.flash(
            FlashKind::Error,
            format!("The invitation to {email} is saved, but its e-mail could not be sent. Send it again to retry."),
        ),
        _ => session.flash(FlashKind::Success, format!("Invitation sent to {email}.")),
    }
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
    let id: String = super::path_ids::path_id(path)?;
    let invitation = state
        .people
        .open_invitation(user.account_id.clone(), id.clone())
        .await?;
    let role = invitation.role;
    if role == Role::Admin {
        let action = format!("/users/invitations/{id}/resend");
        if let Some(prompt) =
            crate::auth::sudo::require(&state, &user, &session, &form, &action, &[]).await?
        {
            return Ok(prompt);
        }
    }
    let invite = Invite {
        actor: user.actor(&ip),
        email: invitation.email.clone(),
        role,
    };
    let invited = state.people.resend(invite).await?;
    flash_invitation(&session, invitation.email.as_str(), &invited)?;
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
    let id = super::path_ids::path_id(path)?;
    let email = state.people.cancel_invitation(user.actor(&ip), id).await?;
    session.flash(
        FlashKind::Success,
        format!("The invitation to {email} is cancelled: its link no longer works."),
    )?;
    Ok(views::see_other("/users"))
}

async fn change_user(
    state: &AppState,
    user: &CurrentUser,
    session: &TypedSession,
    id: UserId,
    change: Change,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let change = UserChange {
        actor: user.actor(&ip),
        user_id: id,
        change,
    };
    match state.people.change(change).await {
        Ok(Some(message)) => session.flash(FlashKind::Success, message)?,
        Ok(None) => {}
        // Refused (the last admin): 409, said in a banner on the page it came from.
        Err(AppError::Conflict(message)) => {
            session.flash(FlashKind::Error, message)?;
            let (status, at) = (StatusCode::CONFLICT, PageAt::First);
            return users_page(
                state,
                user,
                session,
                status,
                at,
                String::new(),
                String::new(),
                None,
            )
            .await;
        }
        Err(other) => return Err(other),
    }
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
    let id = super::path_ids::path_id(path)?;
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
            String::new(),
            Some("Choose a role: admin, support or member.".into()),
        )
        .await;
    };
    change_user(&state, &user, &session, id, Change::Role(role), ip).await
}

#[derive(Template)]
#[template(path = "users_disable.html")]
pub struct DisablePage {
    pub layout: Layout,
    pub id: UserId,
    pub email: String,
}

/// `GET /users/{id}/disable`: asks before disabling (what it does, and Cancel).
pub async fn disable_form(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id: UserId = super::path_ids::path_id(path)?;
    let (account_id, target) = (user.account_id.clone(), id.clone());
    let person = state
        .db(move |conn| Ok(users::find_in_account(conn, &account_id, &target)?))
        .await?
        .ok_or_else(AppError::not_found)?;
    views::ok(&DisablePage {
        layout: Layout::new(
            format!("Disable {}", person.email),
            "users",
            Some(&user),
            &session,
        )?,
        id,
        email: person.email,
    })
}

pub async fn disable_user(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let id = super::path_ids::path_id(path)?;
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
    let id = super::path_ids::path_id(path)?;
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

/// Signs a user of the account out of every session (a lost laptop, a suspected theft).
/// Like revoking, a protective act: no password prompt.
pub async fn end_user_sessions(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    _form: PostedForm,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let id = super::path_ids::path_id(path)?;
    let (email, ended) = state.sessions.end_all_of(user.actor(&ip), id).await?;
    let message = match ended {
        1 => format!("{email} is signed out of 1 session."),
        n => format!("{email} is signed out of {n} sessions."),
    };
    session.flash(FlashKind::Success, message)?;
    Ok(views::see_other("/users"))
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
    id: UserId,
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
