//! Expired & Revoked: tokens that no longer work, kept for monitoring.

use super::token_view::{views_for, TokenView};
use crate::auth::guards::ReviewerUser;
use crate::auth::session::TypedSession;
use crate::db::{self, tokens};
use crate::error::AppError;
use crate::startup::AppState;
use crate::views::{self, Layout, Pagination, PAGE_SIZE};
use actix_web::{web, HttpResponse};
use askama::Template;

#[derive(serde::Deserialize)]
pub struct PageQuery {
    pub page: Option<String>,
}

#[derive(Template)]
#[template(path = "tokens/inactive.html")]
pub struct InactivePage {
    pub layout: Layout,
    pub tokens: Vec<TokenView>,
    pub pagination: Pagination,
}

pub async fn list_inactive(
    ReviewerUser(user): ReviewerUser,
    state: web::Data<AppState>,
    session: TypedSession,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let page = Pagination::requested(query.page.as_deref());
    let account_id = user.account_id.clone();
    let (tokens, total) = db::run(&state.pool, move |conn| {
        let (rows, total) =
            tokens::list_inactive(conn, &account_id, now, PAGE_SIZE, Pagination::offset(page))?;
        Ok((views_for(conn, rows, now)?, total))
    })
    .await?;
    let pagination = Pagination::new("/tokens/inactive", "", page, total);
    if let Some(last) = pagination.beyond_end() {
        return Ok(views::see_other(last));
    }
    views::ok(&InactivePage {
        layout: Layout::new("Expired & Revoked", "inactive", Some(&user), &session)?,
        tokens,
        pagination,
    })
}
