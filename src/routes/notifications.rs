//! Notifications: the account's recent e-mail notices, and "retry now" for failed ones.

use crate::auth::guards::AdminUser;
use crate::auth::session::{FlashKind, TypedSession};
use crate::db::outbox;
use crate::error::AppError;
use crate::forms::PostedForm;
use crate::routes::inactive::PageQuery;
use crate::state::AppState;
use crate::views::{self, Layout, Pagination, TimeView, PAGE_SIZE};
use actix_web::{web, HttpResponse};
use askama::Template;

pub struct NoticeView {
    pub id: String,
    pub kind: &'static str,
    pub token_id: Option<String>,
    pub recipient: String,
    pub subject: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created: TimeView,
    pub sent: Option<TimeView>,
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        crate::notify::messages::TOKEN_CREATED => "New token",
        crate::notify::messages::TOKEN_EXPIRING => "Expiry reminder",
        crate::notify::messages::TOKEN_IP_ALERT => "Address alert",
        crate::notify::messages::NEW_SIGN_IN => "New sign-in",
        crate::notify::messages::TOKEN_LEAKED => "Leak revocation",
        crate::notify::weekly::WEEKLY_REPORT => "Weekly report",
        _ => "Notice",
    }
}

#[derive(Template)]
#[template(path = "notifications.html")]
pub struct NotificationsPage {
    pub layout: Layout,
    pub notices: Vec<NoticeView>,
    pub pagination: Pagination,
}

pub async fn list_notifications(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let page = Pagination::requested(query.page.as_deref());
    let account_id = user.account_id.clone();
    let total = user.account.notices;
    let newest = total - Pagination::offset(page);
    let rows = state
        .db(move |conn| Ok(outbox::list(conn, &account_id, newest, PAGE_SIZE)?))
        .await?;
    let pagination = Pagination::new("/notifications", "", page, total);
    if let Some(last) = pagination.beyond_end() {
        return Ok(views::see_other(last));
    }
    let notices = rows
        .into_iter()
        .map(|row| NoticeView {
            kind: kind_label(&row.kind),
            created: TimeView::new(row.created_at, now),
            sent: TimeView::maybe(row.sent_at, now),
            id: row.id,
            token_id: row.token_id,
            recipient: row.recipient,
            subject: row.subject,
            status: row.status,
            attempts: row.attempts,
            last_error: row.last_error,
        })
        .collect();
    views::ok(&NotificationsPage {
        layout: Layout::new("Notifications", "notifications", Some(&user), &session)?,
        notices,
        pagination,
    })
}

pub async fn retry_notification(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<String>,
    _form: PostedForm,
) -> Result<HttpResponse, AppError> {
    let id: String = super::path_ids::path_id(path)?;
    let now = state.clock.now();
    let account_id = user.account_id.clone();
    let retried = state
        .db(move |conn| Ok(outbox::retry(conn, &account_id, &id, now)?))
        .await?;
    if !retried {
        return Err(AppError::Conflict(
            "Only a failed notice of this account can be retried.".into(),
        ));
    }
    state.notifier.wake();
    session.flash(FlashKind::Success, "The notice will be sent again now.")?;
    Ok(views::see_other("/notifications"))
}
