//! Hand-off links: a one-time link (24 h) that reveals a token's credentials once to the
//! person who will use it. Only the link's hash is stored, so its e-mail is sent at once.

use super::actor::Actor;
use super::tokens::inactive_conflict;
use super::Context;
use crate::auth::one_time;
use crate::db::{self, audit, handoffs, tokens};
use crate::domain::{EmailAddress, TokenId, TokenStatus};
use crate::error::AppError;
use crate::links;
use crate::notify::messages::{self, Handoff};
use crate::tokens::secret::Password;
use chrono::{Duration, NaiveDateTime};

pub const VALID_HOURS: i64 = 24;

pub struct HandoffService {
    ctx: Context,
}

/// A new link for an active token, e-mailed to `sent_to` if given.
pub struct NewHandoff {
    pub actor: Actor,
    pub token_id: TokenId,
    pub sent_to: Option<EmailAddress>,
}

pub struct HandedOff {
    pub token_name: String,
    pub url: String,
    /// When it was made, and when it expires (24 h later).
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// The e-mail was asked for and could not be sent: the admin passes the link on.
    pub not_mailed: bool,
}

/// What an opened link reveals.
pub struct Revealed {
    pub token_name: String,
    /// Who made the link, and their account.
    pub from: String,
    pub account_name: String,
    pub username: String,
    pub password: Password,
    pub token_expires_at: NaiveDateTime,
}

impl HandoffService {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    pub async fn create(&self, new: NewHandoff) -> Result<HandedOff, AppError> {
        let now = self.ctx.clock.now();
        let expires_at = now + Duration::hours(VALID_HOURS);
        let (code, code_hash) = one_time::new_code();
        let NewHandoff {
            actor,
            token_id,
            sent_to,
        } = new;
        let (from, recipient) = (actor.clone(), sent_to.clone());
        let token_name = db::run(&self.ctx.pool, move |conn| {
            db::transaction(conn, |conn| {
                let row = tokens::find(conn, &actor.account_id, &token_id)?
                    .ok_or_else(AppError::not_found)?;
                if !row.is_active(now) {
                    return Err(inactive_conflict());
                }
                handoffs::insert(
                    conn,
                    &handoffs::NewHandoff {
                        id: &db::new_id(),
                        token_id: &token_id,
                        account_id: &actor.account_id,
                        code_hash: &code_hash,
                        expires_at,
                        sent_to: recipient.as_ref().map(EmailAddress::as_str),
                        created_by: &actor.user_id,
                    },
                    now,
                )?;
                let detail = match &recipient {
                    Some(to) => format!("one-time link, valid {VALID_HOURS} h, e-mailed to {to}"),
                    None => format!("one-time link, valid {VALID_HOURS} h"),
                };
                actor.record(conn, "token.handoff_created", Some(&token_id), &detail, now)?;
                Ok(row.name)
            })
        })
        .await?;
        let url = links::absolute(&self.ctx.base_url, &format!("handoff/{code}"));
        let not_mailed = match sent_to {
            Some(to) => !self.mail(&from, to, &token_name, &url, expires_at).await?,
            None => false,
        };
        Ok(HandedOff {
            token_name,
            url,
            created_at: now,
            expires_at,
            not_mailed,
        })
    }

    /// Whether the link's e-mail went out (not through the outbox, which keeps its bodies).
    async fn mail(
        &self,
        from: &Actor,
        to: EmailAddress,
        token_name: &str,
        url: &str,
        expires_at: NaiveDateTime,
    ) -> Result<bool, AppError> {
        let api_url = links::absolute(&self.ctx.base_url, "api/v1/whoami");
        let message = messages::handoff(&Handoff {
            from: &from.email,
            account_name: &from.account_name,
            token_name,
            url,
            api_url: &api_url,
            expires_at,
        })
        .map_err(|e| AppError::internal(format!("e-mail template: {e}")))?;
        let notifier = self.ctx.notifier.clone();
        let sent = tokio::task::spawn_blocking(move || notifier.send_now(to.as_str(), &message))
            .await
            .map_err(|_| AppError::internal("the e-mail task was cancelled"))?;
        if let Err(error) = &sent {
            tracing::warn!(%error, "hand-off e-mail not sent");
        }
        Ok(sent.is_ok())
    }

    /// The hand-off behind a code, if it can still be opened; 404 for an unknown code, 410
    /// once used, cancelled, expired, or its token no longer active.
    pub async fn usable(
        &self,
        code: &str,
    ) -> Result<(handoffs::Handoff, tokens::TokenRow), AppError> {
        let code_hash = one_time::hash(code);
        let now = self.ctx.clock.now();
        db::run(&self.ctx.pool, move |conn| {
            let handoff = handoffs::find_by_hash(conn, &code_hash)?.ok_or(AppError::NotFound(
                "This link is not valid. Ask for a new one.",
            ))?;
            if handoff.opened_at.is_some()
                || handoff.cancelled_at.is_some()
                || handoff.expires_at <= now
            {
                return Err(gone());
            }
            let token =
                tokens::find(conn, &handoff.account_id, &handoff.token_id)?.ok_or_else(gone)?;
            if !token.is_active(now) {
                return Err(gone());
            }
            Ok((handoff, token))
        })
        .await
    }

    /// Opens the link: its credentials, once. The opening is audited.
    pub async fn reveal(&self, code: &str, ip: Option<String>) -> Result<Revealed, AppError> {
        let (handoff, token) = self.usable(code).await?;
        let (from, account_name) = (handoff.made_by.clone(), handoff.account_name.clone());
        let now = self.ctx.clock.now();
        let crypto = self.ctx.crypto.clone();
        let (username, password) = db::run(&self.ctx.pool, move |conn| {
            db::transaction(conn, |conn| {
                if !handoffs::open(conn, &handoff.id, ip.as_deref(), now)? {
                    return Err(gone());
                }
                let stored = tokens::find_secret(conn, &handoff.account_id, &handoff.token_id)?
                    .ok_or_else(gone)?;
                // Checked again here: a revoke may have committed since the page was checked.
                if !TokenStatus::of(stored.expires_at, stored.revoked_at, now).is_active() {
                    return Err(gone());
                }
                let password = crypto
                    .decrypt(handoff.token_id.as_str(), &stored.secret_enc)
                    .map_err(|e| AppError::internal(format!("token {}: {e}", handoff.token_id)))?;
                audit::insert(
                    conn,
                    &audit::NewEvent {
                        account_id: Some(&handoff.account_id),
                        actor_id: None,
                        actor_email: None,
                        action: "token.handoff_opened",
                        token_id: Some(&handoff.token_id),
                        detail: "credentials revealed through the one-time link",
                        ip: ip.as_deref(),
                    },
                    now,
                )?;
                Ok((stored.username, password))
            })
        })
        .await?;
        Ok(Revealed {
            token_name: token.name,
            from,
            account_name,
            username,
            password,
            token_expires_at: token.expires_at,
        })
    }

    /// Cancels one open link of the token (no sudo: like revoking, it only takes access
    /// away).
    pub async fn cancel(
        &self,
        actor: Actor,
        token_id: TokenId,
        handoff_id: String,
    ) -> Result<(), AppError> {
        let now = self.ctx.clock.now();
        db::run(&self.ctx.pool, move |conn| {
            db::transaction(conn, |conn| {
                if !handoffs::cancel(conn, &actor.account_id, &token_id, &handoff_id, now)? {
                    return Err(AppError::NotFound(
                        "There is no open link like this: it was revealed or cancelled already.",
                    ));
                }
                let detail = "hand-off link cancelled";
                actor.record(
                    conn,
                    "token.handoff_cancelled",
                    Some(&token_id),
                    detail,
                    now,
                )?;
                Ok(())
            })
        })
        .await
    }
}

fn gone() -> AppError {
    AppError::Gone("This link has already been used, was cancelled, has expired, or its token no longer works. Ask for a new one.")
}
