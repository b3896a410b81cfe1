//! Who may do what. Handlers take one of these extractors; each loads the signed-in user
//! (checking the session epoch, so a signed-out or disabled user's cookie stops working)
//! and carries the account id that every query must be scoped to.

use super::session::TypedSession;
use crate::db::users::{self, AccountState, Role};
use crate::error::AppError;
use crate::startup::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub account_id: String,
    pub account_name: String,
    /// The account as this request found it, read with the user.
    pub account: AccountState,
}

impl CurrentUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = TypedSession::from_request_sync(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
            let (user_id, epoch) = session.user().ok_or(AppError::Unauthenticated)?;
            let settings = &state.settings;
            if !session.alive(
                state.clock.now(),
                settings.session_idle,
                settings.session_max,
            ) {
                session.sign_out();
                let _ = session.flash(
                    crate::auth::session::FlashKind::Error,
                    "Your session expired. Sign in again.",
                );
                return Err(AppError::Unauthenticated);
            }
            let user = crate::db::run(&state.pool, move |conn| {
                Ok(users::find_session_user(conn, &user_id)?)
            })
            .await?;
            match user {
                Some(user) if !user.disabled && user.session_epoch == epoch => Ok(CurrentUser {
                    role: Role::parse(&user.role)
                        .ok_or_else(|| AppError::internal("unknown role in database"))?,
                    id: user.id,
                    email: user.email,
                    account_id: user.account_id,
                    account_name: user.account_name,
                    account: user.account,
                }),
                _ => {
                    session.sign_out();
                    Err(AppError::Unauthenticated)
                }
            }
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
            match user.role {
                Role::Admin | Role::Support => Ok(ReviewerUser(user)),
                Role::Member => Err(AppError::Forbidden(
                    "Token pages are for account administrators and support staff. \
                     If you were sent credentials, open the hand-off link you were given.",
                )),
            }
        })
    }
}
