//! Who may do what. Handlers take one of these extractors; each loads the signed-in user
//! (the session store has found the session alive; the user must still be enabled)
//! and carries the account id that every query must be scoped to.

use super::session::TypedSession;
use crate::client_ip::ClientIp;
use crate::db::users::{AccountState, Role};
use crate::domain::{AccountId, UserId};
use crate::error::AppError;
use crate::services::actor::Actor;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

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

/// A session's claim to be a user, with the user and their account as the session store
/// read them in the session's own query (`auth::store`). A page that reads the database
/// runs its work with them in one blocking task (`Claim::run`).
pub struct Claim {
    user: CurrentUser,
}

impl Claim {
    /// The user, if the claim holds: the session names an enabled user. (Disabling them, a
    /// new password or a new role also deletes their sessions.)
    fn of(session: TypedSession) -> Result<Self, AppError> {
        let user = session.loaded_user().filter(|user| !user.disabled);
        let Some(user) = user else {
            if session.user().is_some() {
                session.sign_out();
            }
            return Err(AppError::Unauthenticated);
        };
        let user = CurrentUser {
            role: user.role,
            id: user.id,
            email: user.email,
            account_id: user.account_id,
            account_name: user.account_name,
            account: user.account,
        };
        Ok(Claim { user })
    }

    /// Runs `work` with the user on a connection of the pool.
    pub async fn run<T, F>(self, state: &AppState, work: F) -> Result<(CurrentUser, T), AppError>
    where
        F: FnOnce(&mut crate::db::DbConn, &CurrentUser) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let Claim { user } = self;
        state
            .db(move |conn| {
                let out = work(conn, &user)?;
                Ok((user, out))
            })
            .await
    }
}

impl FromRequest for Claim {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Claim::of(TypedSession::from_request_sync(req)))
    }
}

/// The signed-in user, as read with the session: no other read.
impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let claim = Claim::of(TypedSession::from_request_sync(req));
        std::future::ready(claim.map(|claim| claim.user))
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
