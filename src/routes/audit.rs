//! The audit log page: who did what to which token, when, from which address.

use crate::auth::guards::AdminUser;
use crate::auth::session::TypedSession;
use crate::db::audit;
use crate::error::AppError;
use crate::export::{utc, CsvFile};
use crate::routes::inactive::PageQuery;
use crate::state::AppState;
use crate::views::{self, Layout, Pagination, TimeView, PAGE_SIZE};
use actix_web::{web, HttpResponse};
use askama::Template;

pub struct EventView {
    pub at: TimeView,
    pub actor: String,
    pub action: String,
    /// The action in words (the code stays, for the CSV export and as the title).
    pub words: &'static str,
    pub token_id: Option<String>,
    pub token_name: Option<String>,
    pub detail: String,
    pub ip: String,
}

/// An audit action as people read it; a code this build does not know stays a code.
pub fn in_words(action: &str) -> &'static str {
    match action {
        "account.setup" => "Account set up",
        "account.policy_changed" => "Token policy changed",
        "session.ended" => "Session signed out",
        "session.ended_others" => "Other sessions signed out",
        "token.create" => "Token created",
        "token.credentials" | "token.credentials_viewed" => "Credentials viewed",
        "token.handoff_created" => "Hand-off link made",
        "token.handoff_opened" => "Hand-off link opened",
        "token.handoff_cancelled" => "Hand-off link cancelled",
        "token.ip_denied" => "Use from a disallowed address",
        "token.revoke" => "Token revoked",
        "token.update" => "Token updated",
        "user.disabled" => "User disabled",
        "user.enabled" => "User enabled",
        "user.invited" => "User invited",
        "user.invitation_accepted" => "Invitation accepted",
        "user.invitation_cancelled" => "Invitation cancelled",
        "user.invitation_resent" => "Invitation sent again",
        "user.password_changed" => "Password changed",
        "user.password_reset" => "Password reset",
        "user.role_changed" => "Role changed",
        "user.sessions_ended" => "User signed out everywhere",
        "user.signin" => "Signed in",
        "user.signin_failed" => "Sign-in failed",
        "user.signout" => "Signed out",
        _ => "",
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub events: Vec<EventView>,
    pub pagination: Pagination,
}

pub async fn audit_log(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
    session: TypedSession,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let page = Pagination::requested(query.page.as_deref());
    let account_id = user.account_id.clone();
    let total = user.account.audit_events;
    let newest = total - Pagination::offset(page);
    let rows = state
        .db(move |conn| Ok(audit::list(conn, &account_id, newest, PAGE_SIZE)?))
        .await?;
    let events = rows
        .into_iter()
        .map(|row| EventView {
            words: in_words(&row.action),
            at: TimeView::new(row.created_at, now),
            actor: row.actor_email.unwrap_or_else(|| "\u{2014}".into()),
            action: row.action,
            token_id: row.token_id,
            token_name: row.token_name,
            detail: row.detail,
            ip: row.ip.unwrap_or_else(|| "\u{2014}".into()),
        })
        .collect();
    let pagination = Pagination::new("/audit", "", page, total);
    if let Some(last) = pagination.beyond_end() {
        return Ok(views::see_other(last));
    }
    views::ok(&AuditPage {
        layout: Layout::new("Audit log", "audit", Some(&user), &session)?,
        events,
        pagination,
    })
}

/// At most this many events in one export.
const EXPORT_LIMIT: i64 = 100_000;

/// The account's audit log as CSV, newest first. The log itself cannot be changed from
/// the app: there is no route that edits or deletes an event.
pub async fn export_audit(
    AdminUser(user): AdminUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let account_id = user.account_id.clone();
    let newest = user.account.audit_events;
    let rows = state
        .db(move |conn| Ok(audit::list(conn, &account_id, newest, EXPORT_LIMIT)?))
        .await?;
    let mut file = CsvFile::new(&[
        "time",
        "actor",
        "action",
        "token_id",
        "token_name",
        "detail",
        "address",
    ])?;
    for row in rows {
        file.row(&[
            &utc(row.created_at),
            row.actor_email.as_deref().unwrap_or(""),
            &row.action,
            row.token_id.as_deref().unwrap_or(""),
            row.token_name.as_deref().unwrap_or(""),
            &row.detail,
            row.ip.as_deref().unwrap_or(""),
        ])?;
    }
    file.response("audit-log.csv")
}
