//! Sessions people can see and end: the sign-in record (and its new-device e-mail), the
//! user's own list, and ending one, the others, or (for an admin) all of a user's.

use super::actor::Actor;
use super::Context;
use crate::db::{self, audit, sessions, users};
use crate::domain::{AccountId, SignInFrom, UserId};
use crate::error::AppError;
use crate::notify::messages::{self, NewSignIn};
use chrono::{Duration, NaiveDateTime};

pub struct SessionService {
    ctx: Context,
}

/// A sign-in with the user's password.
pub struct PasswordSignIn {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub email: String,
    pub from: SignInFrom,
}

/// One of the user's sessions, as their list shows it.
pub struct SessionRow {
    pub id: String,
    pub device: String,
    pub ip: String,
    pub signed_in_at: NaiveDateTime,
    pub seen_at: NaiveDateTime,
    pub current: bool,
}

impl SessionService {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Audits the sign-in and remembers the device; from a device new to the user, they
    /// are e-mailed (through the outbox) in the same transaction.
    pub async fn signed_in(&self, sign_in: PasswordSignIn) -> Result<(), AppError> {
        let now = self.ctx.clock.now();
        let base_url = self.ctx.base_url.clone();
        let told = db::run(&self.ctx.pool, move |conn| {
            db::transaction(conn, |conn| {
                let PasswordSignIn {
                    user_id,
                    account_id,
                    email,
                    from,
                } = &sign_in;
                let event = audit::NewEvent {
                    account_id: Some(account_id),
                    actor_id: Some(user_id),
                    actor_email: Some(email),
                    action: "user.signin",
                    token_id: None,
                    detail: &from.device.to_string(),
                    ip: from.ip.as_deref(),
                };
                audit::insert(conn, &event, now)?;
                if !remember(conn, user_id, from, now)? {
                    return Ok(false);
                }
                let notice = NewSignIn {
                    account_id,
                    email,
                    device: &from.device,
                    ip: from.ip.as_deref().unwrap_or("an unknown address"),
                    at: now,
                };
                messages::queue_new_sign_in(conn, &base_url, &notice)?;
                Ok::<_, AppError>(true)
            })
        })
        .await?;
        if told {
            self.ctx.notifier.wake();
        }
        Ok(())
    }

    /// Remembers the device of a sign-in that set a password (first run, an invitation,
    /// a reset): the user is at that keyboard, so nothing is sent.
    pub async fn remember_device(&self, user_id: UserId, from: SignInFrom) -> Result<(), AppError> {
        let now = self.ctx.clock.now();
        db::run(&self.ctx.pool, move |conn| {
            remember(conn, &user_id, &from, now).map(|_| ())
        })
        .await
    }

    /// The user's live sessions, `current` marked.
    pub async fn list(
        &self,
        user_id: UserId,
        current: Option<String>,
    ) -> Result<Vec<SessionRow>, AppError> {
        let now = self.ctx.clock.now();
        let rows = db::run(&self.ctx.pool, move |conn| {
            Ok::<_, AppError>(sessions::list_for_user(conn, &user_id, now)?)
        })
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| SessionRow {
                current: current.as_deref() == Some(row.id.as_str()),
                device: format!("{} on {}", row.browser, row.os),
                ip: row.ip.unwrap_or_default(),
                signed_in_at: row.created_at,
                seen_at: row.seen_at,
                id: row.id,
            })
            .collect())
    }

    /// Ends one of the actor's own sessions, not the one they are using (404 otherwise:
    /// another user's session is none of theirs).
    pub async fn end_one(&self, actor: Actor, id: String, current: String) -> Result<(), AppError> {
        if id == current {
            return Err(AppError::Conflict(
                "This is the session you are using: sign out to end it.".into(),
            ));
        }
        let now = self.ctx.clock.now();
        self.ctx
            .write(move |conn| {
                if !sessions::end_one(conn, &actor.user_id, &id)? {
                    return Err(AppError::not_found());
                }
                Ok(actor.record(conn, "session.ended", None, "", now)?)
            })
            .await
    }

    /// Ends every session of the actor but the one they are using; how many.
    pub async fn end_others(&self, actor: Actor, current: String) -> Result<usize, AppError> {
        let now = self.ctx.clock.now();
        self.ctx
            .write(move |conn| {
                let ended = sessions::end_others(conn, &actor.user_id, &current)?;
                let detail = format!("{ended} other session(s)");
                actor.record(conn, "session.ended_others", None, &detail, now)?;
                Ok(ended)
            })
            .await
    }

    /// An admin ends every session of a user of their account; their address and how
    /// many ended.
    pub async fn end_all_of(
        &self,
        actor: Actor,
        user_id: UserId,
    ) -> Result<(String, usize), AppError> {
        let now = self.ctx.clock.now();
        self.ctx
            .write(move |conn| {
                let user = users::find_in_account(conn, &actor.account_id, &user_id)?
                    .ok_or_else(AppError::not_found)?;
                let ended = sessions::end_all(conn, &user_id)?;
                let detail = format!("{}: {ended} session(s)", user.email);
                actor.record(conn, "user.sessions_ended", None, &detail, now)?;
                Ok((user.email, ended))
            })
            .await
    }
}

/// Records the sign-in's device; true when it is new to the user.
fn remember(
    conn: &mut db::DbConn,
    user_id: &UserId,
    from: &SignInFrom,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let device = sessions::SignInDevice {
        user_id,
        browser: from.device.browser,
        os: from.device.os,
        ip: from.ip.as_deref().unwrap_or(""),
    };
    let since = now - Duration::days(sessions::NEW_DEVICE_DAYS);
    Ok(sessions::remember_device(conn, &device, since, now)?)
}
