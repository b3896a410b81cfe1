//! Who may do what. Handlers take one of these extractors; each loads the signed-in user
//! (checking the session's row in the database, so an ended session stops working at once)
//! and carries the account id that every query must be scoped to.

use super::session::TypedSession;
use crate::client_ip::ClientIp;
use crate::db::sessions;
use crate::db::users::{AccountState, Role, SessionUser};
use crate::domain::{AccountId, UserId};
use crate::error::AppError;
use crate::services::actor::Actor;
use crate::state::AppState;
use crate::tokens::check_cache::{CheckCache, SessionClaim};
use actix_web::dev::Payload;
use actix_web::http::{Method, Uri};
use actix_web::{web, FromRequest, HttpRequest};
use chrono::NaiveDateTime;
use futures_util::future::LocalBoxFuture;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub account_id: AccountId,
    pub account_name: String,
    /// The account as this request found it, read with the user.
    pub account: AccountState,
}

impl CurrentUser {
    /// This user, acting from the request's client address: what a change records.
    pub fn actor(&self, ip: &ClientIp) -> Actor {
        Actor {
            user_id: self.id.clone(),
            email: self.email.clone(),
            account_id: self.account_id.clone(),
            account_name: self.account_name.clone(),
            ip: ip.text(),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Admins and support staff review tokens; members are sent to their hand-off links.
    pub fn may_review(&self) -> Result<(), AppError> {
        if self.role.can_review() {
            return Ok(());
        }
        Err(AppError::Forbidden(
            "Token pages are for account administrators and support staff. \
             If you were sent credentials, open the hand-off link you were given.",
        ))
    }
}

/// A session's claim to be a user. The store's copy of the session's values says who it
/// claims to be; the claim is checked against the session's row, read by its key hash with
/// its user and their account in one query, in the same blocking task as the page's own
/// work (`Claim::run`): one thread hop per page, and a session ended in any process (its row
/// deleted) is refused here at its next request.
///
/// On PostgreSQL, where that read is a round trip costing as much as the page's own, the
/// token pages (`Claim::run`) take it from the check cache instead: every end of a session
/// and every change to a user's role, password or access empties that cache in every
/// process before its response (`db::token_writes`), as a token write does. Other pages
/// (through `CurrentUser`) always read the row: they show the account's latest counts.
pub struct Claim {
    session: TypedSession,
    key_hash: Vec<u8>,
    /// A GET's address, to come back to after signing in when the claim fails.
    back_to: Option<Uri>,
}

impl From<SessionUser> for CurrentUser {
    fn from(user: SessionUser) -> Self {
        CurrentUser {
            role: user.role,
            id: user.id,
            email: user.email,
            account_id: user.account_id,
            account_name: user.account_name,
            account: user.account,
        }
    }
}

impl Claim {
    fn of(req: &HttpRequest) -> Result<Self, AppError> {
        let session = TypedSession::from_request_sync(req);
        let back_to = (req.method() == Method::GET).then(|| req.uri().clone());
        match (session.user(), session.key_hash()) {
            (Some(_), Some(key_hash)) => Ok(Claim {
                session,
                key_hash,
                back_to,
            }),
            _ => Err(sign_in_first(back_to)),
        }
    }

    /// The user, if the claim holds: the session's row is there and alive, and names an
    /// enabled user. (Disabling them, a new password or a new role deletes their rows.)
    /// With `cache`, what was read is held there, unless it was emptied meanwhile.
    fn check(
        conn: &mut crate::db::DbConn,
        key_hash: &[u8],
        now: NaiveDateTime,
        cache: Option<&CheckCache>,
    ) -> Result<CurrentUser, AppError> {
        // Read before the row: an emptying after this refuses what the read found.
        let generation = cache.map(CheckCache::generation);
        let row = sessions::find(conn, key_hash)?.filter(|row| row.expires_at > now);
        let Some((expires_at, user)) = row.and_then(|row| Some((row.expires_at, row.user?))) else {
            return Err(AppError::Unauthenticated);
        };
        if user.disabled {
            return Err(AppError::Unauthenticated);
        }
        if let (Some(cache), Some(generation)) = (cache, generation) {
            let claim = SessionClaim {
                expires_at,
                user: user.clone(),
            };
            cache.insert_claim(key_hash, claim, generation);
        }
        Ok(CurrentUser::from(user))
    }

    /// Checks the claim (on PostgreSQL, from the check cache when it holds it), then runs
    /// `work` with the user on the same connection.
    pub async fn run<T, F>(self, state: &AppState, work: F) -> Result<(CurrentUser, T), AppError>
    where
        F: FnOnce(&mut crate::db::DbConn, &CurrentUser) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_with(state, Some(state.check_cache.clone()), work)
            .await
    }

    /// Checks the claim against the session's row, read now, then runs `work`.
    async fn run_fresh<T, F>(self, state: &AppState, work: F) -> Result<(CurrentUser, T), AppError>
    where
        F: FnOnce(&mut crate::db::DbConn, &CurrentUser) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_with(state, None, work).await
    }

    async fn run_with<T, F>(
        self,
        state: &AppState,
        cache: Option<Arc<CheckCache>>,
        work: F,
    ) -> Result<(CurrentUser, T), AppError>
    where
        F: FnOnce(&mut crate::db::DbConn, &CurrentUser) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let Claim {
            session,
            key_hash,
            back_to,
        } = self;
        let now = state.clock.now();
        let done = state
            .db(move |conn| {
                let cache = cache.as_deref();
                let user = match cache.and_then(|cache| cache.claim(&key_hash, now)) {
                    Some(claim) => CurrentUser::from(claim.user.clone()),
                    None => Self::check(conn, &key_hash, now, cache)?,
                };
                let out = work(conn, &user)?;
                Ok((user, out))
            })
            .await;
        if matches!(done, Err(AppError::Unauthenticated)) {
            session.sign_out();
            return Err(sign_in_first(back_to));
        }
        done
    }
}

/// Not signed in: to the sign-in page, which returns to `back_to` (a GET) afterwards.
fn sign_in_first(back_to: Option<Uri>) -> AppError {
    match back_to.as_ref().and_then(Uri::path_and_query) {
        Some(target) => AppError::SignInFirst(target.as_str().to_string()),
        None => AppError::Unauthenticated,
    }
}

impl FromRequest for Claim {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Claim::of(req))
    }
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let claim = Claim::of(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
            let (user, ()) = claim?.run_fresh(&state, |_, _| Ok(())).await?;
            Ok(user)
        })
    }
}

/// An Account Administrator: may change tokens in their own account.
pub struct AdminUser(pub CurrentUser);

/// An admin or a support user: may read token pages, never change them or see a password.
pub struct ReviewerUser(pub CurrentUser);

impl FromRequest for AdminUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            match user.role {
                Role::Admin => Ok(AdminUser(user)),
                _ => Err(AppError::Forbidden(
                    "Only account administrators can do this.",
                )),
            }
        })
    }
}

impl FromRequest for ReviewerUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            user.may_review()?;
            Ok(ReviewerUser(user))
        })
    }
}
