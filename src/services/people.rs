//! People of an account: invitations, roles, disabling and enabling. The last active admin
//! of an account can be neither demoted nor disabled.

use super::actor::Actor;
use super::Context;
use crate::auth::one_time;
use crate::db::token_writes::TokenWrites;
use crate::db::users;
use crate::db::{self, accounts, handoffs, invitations, sessions, DbConn};
use crate::domain::{AccountId, EmailAddress, Role, UserId};
use crate::error::AppError;
use crate::links;
use crate::notify::messages::{self, PasswordLink};
use chrono::{Duration, NaiveDateTime};

pub const INVITE_VALID_HOURS: i64 = 72;

pub struct PeopleService {
    pub(super) ctx: Context,
}

/// Invite someone to the actor's account (again, for an open invitation: a new link).
pub struct Invite {
    pub actor: Actor,
    pub email: EmailAddress,
    pub role: Role,
}

pub enum Invited {
    /// The invitation is saved and its e-mail sent.
    Sent,
    /// Saved, but its e-mail could not be sent: sending again retries.
    NotMailed,
    /// The address is already a user of this account.
    AlreadyUser,
}

/// First run: the first account and its admin.
pub struct FirstAccount {
    pub account_name: String,
    pub email: EmailAddress,
    pub password_hash: String,
    pub ip: Option<String>,
}

/// A change to another user of the account.
pub struct UserChange {
    pub actor: Actor,
    pub user_id: UserId,
    pub change: Change,
}

#[derive(Debug, Clone, Copy)]
pub enum Change {
    Role(Role),
    Disable,
    Enable,
}

impl PeopleService {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Creates the first account and its admin (409 once any user exists). The admin's id.
    pub async fn set_up(&self, first: FirstAccount) -> Result<UserId, AppError> {
        let now = self.ctx.clock.now();
        db::run(&self.ctx.pool, move |conn| {
            db::transaction(conn, |conn| {
                let FirstAccount {
                    account_name,
                    email,
                    password_hash,
                    ip,
                } = &first;
                let account_id = AccountId::generate();
                // Inserting first takes the write lock, so two racing setups cannot both pass.
                accounts::insert(conn, &account_id, account_name, now)?;
                if users::any_exist(conn)? {
                    return Err(AppError::Conflict(
                        "Setup is already complete. Sign in instead.".into(),
                    ));
                }
                let user_id = UserId::generate();
                let admin = users::NewUser {
                    id: &user_id,
                    account_id: &account_id,
                    email,
                    password_hash,
                    role: Role::Admin,
                };
                users::insert(conn, &admin, now)?;
                let actor = Actor {
                    user_id: user_id.clone(),
                    email: email.to_string(),
                    account_id,
                    account_name: account_name.clone(),
                    ip: ip.clone(),
                };
                let detail = format!("account {account_name} created with its first admin");
                actor.record(conn, "account.setup", None, &detail, now)?;
                Ok(user_id)
            })
        })
        .await
    }

    pub async fn invite(&self, invite: Invite) -> Result<Invited, AppError> {
        self.send(invite, "user.invited").await
    }

    /// An open invitation of the actor's account, to send again or cancel.
    pub async fn open_invitation(
        &self,
        account_id: AccountId,
        id: String,
    ) -> Result<invitations::Invitation, AppError> {
        db::run::<_, AppError, _>(&self.ctx.pool, move |conn| {
            Ok(invitations::find_in_account(conn, &account_id, &id)?)
        })
        .await?
        .filter(|i| i.accepted_at.is_none() && i.cancelled_at.is_none())
        .ok_or(AppError::NotFound("There is no open invitation like this."))
    }

    /// Sends an open invitation again: a new link, a new 72 hours (the old link stops
    /// working). 409 if the address has joined meanwhile.
    pub async fn resend(&self, invite: Invite) -> Result<Invited, AppError> {
        let email = invite.email.clone();
        match self.send(invite, "user.invitation_resent").await? {
            Invited::AlreadyUser => Err(AppError::Conflict(format!(
                "{email} has joined meanwhile: they are a user of this account."
            ))),
            sent => Ok(sent),
        }
    }

    /// Cancels an open invitation: its link stops working at once. The address invited.
    pub async fn cancel_invitation(&self, actor: Actor, id: String) -> Result<String, AppError> {
        let now = self.ctx.clock.now();
        db::run(&self.ctx.pool, move |conn| {
            db::transaction(conn, |conn| {
                let invitation = invitations::find_in_account(conn, &actor.account_id, &id)?
                    .ok_or(AppError::NotFound("There is no open invitation like this."))?;
                if !invitations::cancel(conn, &actor.account_id, &id, now)? {
                    return Err(AppError::NotFound(
                        "This invitation was already accepted or cancelled.",
                    ));
                }
                let action = "user.invitation_cancelled";
                actor.record(conn, action, None, invitation.email.as_str(), now)?;
                Ok(invitation.email.into_string())
            })
        })
        .await
    }

    /// Saves the invitation, then mails its link now: only the link's hash may be stored,
    /// so it cannot wait in the outbox.
    async fn send(&self, invite: Invite, action: &'static str) -> Result<Invited, AppError> {
        let now = self.ctx.clock.now();
        let Invite { actor, email, role } = invite;
        let (inviter, invitee) = (actor.clone(), email.clone());
        let saved = db::run(&self.ctx.pool, move |conn| {
            db::transaction(conn, |conn| {
                save_invitation(conn, &inviter, &invitee, role, now, action)
            })
        })
        .await?;
        let Some((code, expires_at)) = saved else {
            return Ok(Invited::AlreadyUser);
        };
        let url = links::absolute(&self.ctx.base_url, &format!("invite/{code}"));
        let message = messages::password_link(&PasswordLink {
            account_name: &actor.account_name,
            invited_by: Some(&actor.email),
            role: role.as_str(),
            url: &url,
            expires_at,
        })
        .map_err(|e| AppError::internal(format!("e-mail template: {e}")))?;
        let notifier = self.ctx.notifier.clone();
        let sent = tokio::task::spawn_blocking(move || notifier.send_now(email.as_str(), &message))
            .await
            .map_err(|_| AppError::internal("the e-mail task was cancelled"))?;
        Ok(match sent {
            Ok(()) => Invited::Sent,
            Err(error) => {
                tracing::warn!(%error, "invitation e-mail not sent");
                Invited::NotMailed
            }
        })
    }

    /// Changes another user's role, or disables or enables them. What happened, in words;
    /// None when it was so already (nothing recorded, no session ended).
    pub async fn change(&self, change: UserChange) -> Result<Option<String>, AppError> {
        let now = self.ctx.clock.now();
        self.ctx
            .write(move |conn| apply_change(conn, &change, now))
            .await
    }
}

/// Invites the address to the actor's account (or renews its open invitation): a new
/// link, valid 72 hours, audited as `action`. The link's code and expiry; None when the
/// address is already a user of the account. Only this account's own users count: whether
/// the address belongs to someone elsewhere is not this admin's to learn (the invitee finds
/// out on accepting).
fn save_invitation(
    conn: &mut DbConn,
    actor: &Actor,
    email: &EmailAddress,
    role: Role,
    now: NaiveDateTime,
    action: &str,
) -> Result<Option<(String, NaiveDateTime)>, AppError> {
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
            role,
            invited_by: &actor.user_id,
            code_hash: &code_hash,
            expires_at,
        },
        now,
    )?;
    let detail = format!("{email} as {}", role.as_str());
    actor.record(conn, action, None, &detail, now)?;
    Ok(Some((code, expires_at)))
}

fn apply_change(
    conn: &mut TokenWrites<'_>,
    change: &UserChange,
    now: NaiveDateTime,
) -> Result<Option<String>, AppError> {
    let UserChange {
        actor,
        user_id: id,
        change,
    } = change;
    accounts::lock(conn, &actor.account_id)?;
    let target =
        users::find_in_account(conn, &actor.account_id, id)?.ok_or_else(AppError::not_found)?;
    let unchanged = match change {
        Change::Role(role) => *role == target.role,
        Change::Disable => target.disabled,
        Change::Enable => !target.disabled,
    };
    if unchanged {
        // Nothing to record, and no session to end.
        return Ok(None);
    }
    let active_admin = target.role == Role::Admin && !target.disabled;
    let loses_admin = match change {
        Change::Role(role) => *role != Role::Admin,
        Change::Disable => true,
        Change::Enable => false,
    };
    if active_admin && loses_admin && users::count_active_admins(conn, &actor.account_id)? <= 1 {
        return Err(AppError::Conflict(
            "This is the account's last active admin: make someone else an admin first.".into(),
        ));
    }
    let email = &target.email;
    let (action, detail, message) = match *change {
        Change::Role(role) => {
            users::set_role(conn, id, role)?;
            sessions::end_all(conn, id)?;
            let detail = format!(
                "{email}: {} \u{2192} {}",
                target.role.as_str(),
                role.as_str()
            );
            let message = format!("{email} is now {}.", role.as_str());
            ("user.role_changed", detail, message)
        }
        Change::Disable => {
            if target.id == actor.user_id {
                return Err(AppError::Conflict("You cannot disable yourself.".into()));
            }
            users::set_disabled(conn, id, true)?;
            sessions::end_all(conn, id)?;
            // Links they made must not outlive their access.
            let detail = match handoffs::cancel_made_by(conn, id, now)? {
                0 => email.clone(),
                n => format!("{email}; {n} open hand-off link(s) cancelled"),
            };
            let message = format!("{email} is disabled and signed out.");
            ("user.disabled", detail, message)
        }
        Change::Enable => {
            users::set_disabled(conn, id, false)?;
            let message = format!("{email} is enabled again.");
            ("user.enabled", email.clone(), message)
        }
    };
    actor.record(conn, action, None, &detail, now)?;
    Ok(Some(message))
}
