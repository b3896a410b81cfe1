//! Setting a password through a one-time link: accepting an invitation (which makes the
//! user) and resetting a forgotten password (which signs out every session); and changing
//! one's own (which signs out every other session).

use super::actor::Actor;
use super::people::PeopleService;
use crate::db::invitations::Invitation;
use crate::db::users::{self, SessionUser};
use crate::db::{self, audit, invitations, sessions, user_links};
use crate::domain::UserId;
use crate::error::AppError;

/// A person sets their password through an invitation's link.
pub struct Acceptance {
    pub invitation: Invitation,
    pub password_hash: String,
    pub ip: Option<String>,
}

/// A signed-in person changes their password (the current one checked by the caller).
pub struct Change {
    pub actor: Actor,
    /// The session they are using, which stays.
    pub current_session: String,
    pub password_hash: String,
}

/// A person sets a new password through a reset link.
pub struct Reset {
    pub link_id: String,
    pub user: SessionUser,
    pub password_hash: String,
    pub ip: Option<String>,
}

impl PeopleService {
    /// Accepting makes the user: the address is taken only now, so an invitation from one
    /// account to someone of another answers the invitee (409), never the inviting admin.
    pub async fn accept_invitation(&self, acceptance: Acceptance) -> Result<UserId, AppError> {
        let now = self.ctx.clock.now();
        let user_id = UserId::generate();
        let id = user_id.clone();
        db::run(&self.ctx.pool, move |conn| {
            db::transaction(conn, |conn| {
                let Acceptance {
                    invitation,
                    password_hash,
                    ip,
                } = &acceptance;
                if !invitations::accept(conn, &invitation.id, now)? {
                    return Err(AppError::Gone(
                        "This invitation was already used, was cancelled, or has expired.",
                    ));
                }
                let new = users::NewUser {
                    id: &id,
                    account_id: &invitation.account_id,
                    email: &invitation.email,
                    password_hash,
                    role: invitation.role,
                };
                users::insert(conn, &new, now).map_err(|e| match e {
                    diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    ) => AppError::Conflict(format!(
                        "{} already has a Sesame Tokens account. Sign in with it, or ask the admin who invited you to use another address.",
                        invitation.email
                    )),
                    other => other.into(),
                })?;
                let event = audit::NewEvent {
                    account_id: Some(&invitation.account_id),
                    actor_id: Some(&id),
                    actor_email: Some(invitation.email.as_str()),
                    action: "user.invitation_accepted",
                    token_id: None,
                    detail: invitation.role.as_str(),
                    ip: ip.as_deref(),
                };
                Ok(audit::insert(conn, &event, now)?)
            })
        })
        .await?;
        Ok(user_id)
    }

    /// Sets the new password and ends every other session of the person; how many ended.
    pub async fn change_password(&self, change: Change) -> Result<usize, AppError> {
        let now = self.ctx.clock.now();
        self.ctx
            .write(move |conn| {
                let Change {
                    actor,
                    current_session,
                    password_hash,
                } = &change;
                users::set_password(conn, &actor.user_id, password_hash)?;
                let ended = sessions::end_others(conn, &actor.user_id, current_session)?;
                user_links::void_all(conn, &actor.user_id, now)?;
                let detail = format!("{ended} other session(s) ended");
                actor.record(conn, "user.password_changed", None, &detail, now)?;
                Ok(ended)
            })
            .await
    }

    /// Sets the new password, voids every other reset link and ends every session.
    pub async fn reset_password(&self, reset: Reset) -> Result<(), AppError> {
        let now = self.ctx.clock.now();
        self.ctx
            .write(move |conn| {
                let Reset {
                    link_id,
                    user,
                    password_hash,
                    ip,
                } = &reset;
                if !user_links::consume(conn, link_id, now)? {
                    return Err(AppError::Gone(
                        "This link has already been used or has expired. Ask for a new one.",
                    ));
                }
                users::set_password(conn, &user.id, password_hash)?;
                sessions::end_all(conn, &user.id)?;
                user_links::void_all(conn, &user.id, now)?;
                let event = audit::NewEvent {
                    account_id: Some(&user.account_id),
                    actor_id: Some(&user.id),
                    actor_email: Some(&user.email),
                    action: "user.password_reset",
                    token_id: None,
                    detail: "",
                    ip: ip.as_deref(),
                };
                Ok(audit::insert(conn, &event, now)?)
            })
            .await
    }
}
