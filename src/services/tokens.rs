//! Creating, renewing, updating, revealing and revoking tokens: the rules, the audit text
//! and the notices, each operation in one transaction under the account's lock.

use super::actor::Actor;
use super::Context;
use crate::db::token_writes::TokenWrites;
use crate::db::{self, accounts, tokens, DbConn};
use crate::domain::token::TokenDetails;
use crate::domain::{TokenId, TokenStatus};
use crate::error::AppError;
use crate::notify::messages::{self, TokenCreated};
use crate::tokens::secret::{self, Password};
use chrono::NaiveDateTime;
use url::Url;

pub struct TokenService {
    pub(super) ctx: Context,
}

/// Add Token.
pub struct NewToken {
    pub actor: Actor,
    pub details: TokenDetails,
    pub expires_at: NaiveDateTime,
}

/// Renew: a new token that replaces `replaces`, which is revoked as `old` says.
pub struct Renewal {
    pub token: NewToken,
    pub replaces: TokenId,
    pub old: RevokeOld,
}

/// Renew: what happens to the token being replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOld {
    Now,
    AtFirstUse,
    Keep,
}

impl RevokeOld {
    /// The Renew form's `revoke_old` (`now`, `keep`; anything else waits for first use).
    pub fn parse(text: &str) -> Self {
        match text {
            "now" => RevokeOld::Now,
            "keep" => RevokeOld::Keep,
            _ => RevokeOld::AtFirstUse,
        }
    }
}

/// The credentials of a new token: shown once, retrievable later.
pub struct Issued {
    pub id: TokenId,
    pub username: String,
    pub password: Password,
}

pub enum Creation {
    Issued(Issued),
    /// An active token of the account already has this name.
    NameTaken,
}

/// The Update form.
pub struct TokenUpdate {
    pub actor: Actor,
    pub token_id: TokenId,
    pub details: TokenDetails,
}

pub enum Update {
    Changed,
    Unchanged,
    NameTaken,
}

pub struct Revocation {
    pub actor: Actor,
    pub token_id: TokenId,
    /// Empty: no reason given.
    pub reason: String,
}

/// A token's credentials, retrieved again (the viewing is audited).
pub struct Revealed {
    pub name: String,
    pub username: String,
    pub password: Password,
    pub expires_at: NaiveDateTime,
}

/// What is stored of a new token's credentials, made outside the transaction (hashing and
/// encryption take time).
struct Minted {
    id: TokenId,
    username: String,
    secret_hmac: Vec<u8>,
    secret_enc: Vec<u8>,
}

impl TokenService {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    pub async fn create(&self, new: NewToken) -> Result<Creation, AppError> {
        self.issue(new, None).await
    }

    pub async fn renew(&self, renewal: Renewal) -> Result<Creation, AppError> {
        let Renewal {
            token,
            replaces,
            old,
        } = renewal;
        self.issue(token, Some((replaces, old))).await
    }

    async fn issue(
        &self,
        new: NewToken,
        replaces: Option<(TokenId, RevokeOld)>,
    ) -> Result<Creation, AppError> {
        let now = self.ctx.clock.now();
        let (minted, password) = self.mint();
        let issued = Issued {
            id: minted.id.clone(),
            username: minted.username.clone(),
            password,
        };
        let base_url = self.ctx.base_url.clone();
        let account_id = new.actor.account_id.clone();
        let created = self
            .ctx
            .write(move |conn| {
                let version = accounts::lock(conn, &new.actor.account_id)?;
                let shares_name_with = match &replaces {
                    Some((old_id, when)) => retire(conn, &new.actor, old_id, *when, now, version)?,
                    None => None,
                };
                let account = &new.actor.account_id;
                let name = new.details.name.as_str();
                if tokens::name_in_use(conn, account, name, now, shares_name_with.as_ref())? {
                    return Ok(false);
                }
                let revoke_replaced_on_use = shares_name_with.is_some()
                    && matches!(replaces, Some((_, RevokeOld::AtFirstUse)));
                let replaces_id = replaces.as_ref().map(|(old, _)| old);
                insert(
                    conn,
                    &new,
                    &minted,
                    replaces_id,
                    revoke_replaced_on_use,
                    now,
                    version,
                )?;
                announce(conn, &base_url, &new, &minted.id, now)?;
                Ok(true)
            })
            .await?;
        if !created {
            return Ok(Creation::NameTaken);
        }
        self.ctx.notifier.wake();
        tracing::info!(token_id = %issued.id, %account_id, "token created");
        Ok(Creation::Issued(issued))
    }

    fn mint(&self) -> (Minted, Password) {
        let id = TokenId::generate();
        let password = secret::generate_password();
        let minted = Minted {
            secret_hmac: self.ctx.crypto.hash(password.expose()),
            secret_enc: self.ctx.crypto.encrypt(id.as_str(), &password),
            username: secret::generate_username(),
            id,
        };
        (minted, password)
    }

    pub async fn update(&self, update: TokenUpdate) -> Result<Update, AppError> {
        let now = self.ctx.clock.now();
        self.ctx
            .write(move |conn| {
                let TokenUpdate {
                    actor,
                    token_id,
                    details: wanted,
                } = update;
                let version = accounts::lock(conn, &actor.account_id)?;
                let current = tokens::find(conn, &actor.account_id, &token_id)?
                    .ok_or_else(AppError::not_found)?;
                if !current.is_active(now) {
                    return Err(inactive_conflict());
                }
                let name = wanted.name.as_str();
                if tokens::name_in_use(conn, &actor.account_id, name, now, Some(&token_id))? {
                    return Ok(Update::NameTaken);
                }
                let networks: Vec<String> =
                    tokens::networks_of(conn, std::slice::from_ref(&token_id))?
                        .into_iter()
                        .map(|(_, network)| network)
                        .collect();
                let changes = changes(&current, &networks, &wanted);
                if changes.is_empty() {
                    return Ok(Update::Unchanged);
                }
                tokens::update_details(
                    conn,
                    &token_id,
                    name,
                    &wanted.description,
                    &wanted.networks.canonical(),
                    now,
                    version,
                )?;
                actor.record(
                    conn,
                    "token.update",
                    Some(&token_id),
                    &changes.join("; "),
                    now,
                )?;
                Ok(Update::Changed)
            })
            .await
    }

    /// Revokes an active token: it stops working at once. Its name.
    pub async fn revoke(&self, revocation: Revocation) -> Result<String, AppError> {
        let now = self.ctx.clock.now();
        let Revocation {
            actor,
            token_id,
            reason,
        } = revocation;
        let (account_id, id) = (actor.account_id.clone(), token_id.clone());
        let name = self
            .ctx
            .write(move |conn| {
                let version = accounts::lock(conn, &actor.account_id)?;
                let token = tokens::find(conn, &actor.account_id, &token_id)?
                    .ok_or_else(AppError::not_found)?;
                let reason = (!reason.is_empty()).then_some(reason.as_str());
                if !tokens::revoke(conn, &token_id, Some(&actor.user_id), reason, now, version)? {
                    return Err(inactive_conflict());
                }
                let detail = reason.map(|r| format!("reason: {r}")).unwrap_or_default();
                actor.record(conn, "token.revoke", Some(&token_id), &detail, now)?;
                Ok(token.name)
            })
            .await?;
        tracing::info!(token_id = %id, account_id = %account_id, "token revoked");
        Ok(name)
    }

    /// An active token's credentials again; the viewing is audited, once decrypted.
    pub async fn reveal(&self, actor: Actor, token_id: TokenId) -> Result<Revealed, AppError> {
        let now = self.ctx.clock.now();
        let crypto = self.ctx.crypto.clone();
        db::run(&self.ctx.pool, move |conn| {
            let stored = tokens::find_secret(conn, &actor.account_id, &token_id)?
                .ok_or_else(AppError::not_found)?;
            if !TokenStatus::of(stored.expires_at, stored.revoked_at, now).is_active() {
                return Err(inactive_conflict());
            }
            // Decrypt before recording the view, so the log never claims a view that failed.
            let password = crypto
                .decrypt(token_id.as_str(), &stored.secret_enc)
                .map_err(|e| AppError::internal(format!("token {token_id}: {e}")))?;
            actor.record(conn, "token.credentials_viewed", Some(&token_id), "", now)?;
            Ok(Revealed {
                name: stored.name,
                username: stored.username,
                password,
                expires_at: stored.expires_at,
            })
        })
        .await
    }
}

/// Renew: the replaced token, revoked now if asked. The id whose name the new token may
/// share (the replaced one, while it still works).
fn retire(
    conn: &mut TokenWrites<'_>,
    actor: &Actor,
    old_id: &TokenId,
    when: RevokeOld,
    now: NaiveDateTime,
    version: i64,
) -> Result<Option<TokenId>, AppError> {
    let old = tokens::find(conn, &actor.account_id, old_id)?.ok_or_else(AppError::not_found)?;
    // An expired or revoked token has nothing to retire, and its name is free.
    if !old.is_active(now) {
        return Ok(None);
    }
    if when != RevokeOld::Now {
        return Ok(Some(old_id.clone()));
    }
    let reason = "replaced by its renewal";
    tokens::revoke(
        conn,
        old_id,
        Some(&actor.user_id),
        Some(reason),
        now,
        version,
    )?;
    actor.record(
        conn,
        "token.revoke",
        Some(old_id),
        &format!("reason: {reason}"),
        now,
    )?;
    Ok(None)
}

#[allow(clippy::too_many_arguments)]
fn insert(
    conn: &mut TokenWrites<'_>,
    new: &NewToken,
    minted: &Minted,
    replaces_id: Option<&TokenId>,
    revoke_replaced_on_use: bool,
    now: NaiveDateTime,
    version: i64,
) -> Result<(), AppError> {
    let (actor, details) = (&new.actor, &new.details);
    tokens::insert(
        conn,
        &tokens::NewToken {
            id: &minted.id,
            account_id: &actor.account_id,
            name: details.name.as_str(),
            description: &details.description,
            username: &minted.username,
            secret_hmac: &minted.secret_hmac,
            secret_enc: &minted.secret_enc,
            created_by: &actor.user_id,
            expires_at: new.expires_at,
            replaces_id,
            revoke_replaced_on_use,
            version,
        },
        &details.networks.canonical(),
        now,
    )?;
    let detail = format!(
        "created, expires {}, allowed IPs: {}",
        new.expires_at.format("%Y-%m-%d %H:%M UTC"),
        details.networks
    );
    actor.record(conn, "token.create", Some(&minted.id), &detail, now)?;
    Ok(())
}

/// The admins' "new token" e-mails, in the creating transaction.
fn announce(
    conn: &mut DbConn,
    base_url: &Url,
    new: &NewToken,
    token_id: &TokenId,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let notice = TokenCreated {
        account_name: &new.actor.account_name,
        token_id,
        name: new.details.name.as_str(),
        creator: &new.actor.email,
        created_at: now,
        expires_at: new.expires_at,
        networks: &new.details.networks.canonical(),
    };
    messages::queue_token_created(conn, base_url, &new.actor.account_id, &notice, now)
}

/// What an update changes, as the audit log says it.
fn changes(current: &tokens::TokenRow, networks: &[String], wanted: &TokenDetails) -> Vec<String> {
    let mut changed = Vec::new();
    if current.name != wanted.name.as_str() {
        changed.push(format!(
            "name \u{201c}{}\u{201d} \u{2192} \u{201c}{}\u{201d}",
            current.name, wanted.name
        ));
    }
    if current.description != wanted.description {
        changed.push("description".into());
    }
    if networks != wanted.networks.canonical() {
        changed.push(format!("allowed IPs: {}", wanted.networks));
    }
    changed
}

pub fn inactive_conflict() -> AppError {
    AppError::Conflict("This token is no longer active; it cannot be changed.".into())
}
