//! Expired & Revoked: tokens that no longer work, kept for monitoring. Filterable (status,
//! when they ended, creator, text) and exportable as CSV for support reviews.

use super::token_view::{views, TokenView};
use super::usage_view::fill_calls;
use crate::auth::guards::{Claim, ReviewerUser};
use crate::auth::session::TypedSession;
use crate::db::tokens::{self, Ended, InactiveFilter};
use crate::domain::TokenStatus;
use crate::error::AppError;
use crate::export::{utc, CsvFile};
use crate::state::AppState;
use crate::tokens::lists::AccountAt;
use crate::views::{self, Layout, Pagination, PAGE_SIZE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDate};

#[derive(serde::Deserialize)]
pub struct PageQuery {
    pub page: Option<String>,
}

/// The filter as typed (kept in the form and in page links).
#[derive(serde::Deserialize, Default, Clone)]
pub struct FilterQuery {
    pub page: Option<String>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub creator: String,
    #[serde(default)]
    pub q: String,
}

impl FilterQuery {
    /// The typed filter, or what is wrong with a date.
    fn parse(&self) -> Result<InactiveFilter, &'static str> {
        let date = |raw: &str| -> Result<Option<NaiveDate>, &'static str> {
            match raw.trim() {
                "" => Ok(None),
                // chrono's %Y takes signs and any number of digits: keep to plain years.
                text => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .filter(|d| (1970..=9999).contains(&chrono::Datelike::year(d)))
                    .map(Some)
                    .ok_or("Enter dates as YYYY-MM-DD."),
            }
        };
        let text = |raw: &str| {
            let clean: String = raw
                .trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect();
            (!clean.is_empty()).then_some(clean)
        };
        Ok(InactiveFilter {
            ended: match self.status.as_str() {
                "expired" => Some(Ended::Expired),
                "revoked" => Some(Ended::Revoked),
                _ => None,
            },
            from: date(&self.from)?.map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists")),
            // "to" is inclusive: everything before the next day.
            before: date(&self.to)?.map(|d| {
                (d + Duration::days(1))
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight exists")
            }),
            creator: text(&self.creator),
            text: text(&self.q),
        })
    }

    /// The filter's part of a URL query (`&status=…&from=…`), for page and export links.
    pub fn query_string(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("status", &self.status),
            ("from", &self.from),
            ("to", &self.to),
            ("creator", &self.creator),
            ("q", &self.q),
        ] {
            if !value.trim().is_empty() {
                out.append_pair(key, value.trim());
            }
        }
        out.finish()
    }
}

#[derive(Template)]
#[template(path = "tokens/inactive.html")]
pub struct InactivePage {
    pub layout: Layout,
    pub tokens: Vec<TokenView>,
    pub pagination: Pagination,
    pub filter: FilterQuery,
    pub filtered: bool,
    pub export_url: String,
    pub error: Option<&'static str>,
}

pub async fn list_inactive(
    claim: Claim,
    state: web::Data<AppState>,
    session: TypedSession,
    query: web::Query<FilterQuery>,
) -> Result<HttpResponse, AppError> {
    let filter_query = query.into_inner();
    let (filter, error) = match filter_query.parse() {
        Ok(filter) => (filter, None),
        Err(error) => (InactiveFilter::default(), Some(error)),
    };
    let now = state.clock.now();
    let page = Pagination::requested(filter_query.page.as_deref());
    let lists = state.clone();
    // The user and the page in one database task (see `Claim`).
    let (user, (tokens, total)) = claim
        .run(&state, move |conn, user| {
            user.may_review()?;
            let (rows, total) = lists.token_lists.inactive_page(
                conn,
                AccountAt {
                    id: &user.account_id,
                    version: user.account.version,
                },
                now,
                &filter,
                Pagination::offset(page),
                PAGE_SIZE,
            )?;
            let mut tokens = views(rows, now);
            fill_calls(conn, &mut tokens)?;
            Ok((tokens, total))
        })
        .await?;
    let query_string = filter_query.query_string();
    let extra = if query_string.is_empty() {
        String::new()
    } else {
        format!("&{query_string}")
    };
    let pagination = Pagination::new("/tokens/inactive", &extra, page, total);
    if let Some(last) = pagination.beyond_end() {
        return Ok(views::see_other(last));
    }
    views::render(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        &InactivePage {
            layout: Layout::new("Expired & Revoked", "inactive", Some(&user), &session)?,
            tokens,
            pagination,
            filtered: !query_string.is_empty(),
            export_url: format!("/tokens/inactive.csv?{query_string}"),
            filter: filter_query,
            error,
        },
    )
}

/// At most this many rows in one export.
const EXPORT_LIMIT: i64 = 100_000;

/// The same list as CSV, every cell safe to open in a spreadsheet.
pub async fn export_inactive(
    ReviewerUser(user): ReviewerUser,
    state: web::Data<AppState>,
    query: web::Query<FilterQuery>,
) -> Result<HttpResponse, AppError> {
    let filter = query.parse().map_err(|e| AppError::BadRequest(e.into()))?;
    let now = state.clock.now();
    let account_id = user.account_id.clone();
    let rows = state
        .db(move |conn| {
            Ok(tokens::list_inactive(
                conn,
                &account_id,
                now,
                &filter,
                EXPORT_LIMIT,
                0,
            )?)
        })
        .await?;
    let mut file = CsvFile::new(&[
        "status",
        "ended_at",
        "revoked_by",
        "reason",
        "name",
        "username",
        "created_by",
        "created_at",
        "expires_at",
    ])?;
    for (row, _) in rows {
        let status = TokenStatus::of(row.expires_at, row.revoked_at, now);
        file.row(&[
            status.as_str(),
            &utc(row.revoked_at.unwrap_or(row.expires_at)),
            row.revoked_by_email.as_deref().unwrap_or(""),
            row.revoke_reason.as_deref().unwrap_or(""),
            &row.name,
            &row.username,
            &row.created_by_email,
            &utc(row.created_at),
            &utc(row.expires_at),
        ])?;
    }
    file.response("expired-and-revoked.csv")
}
