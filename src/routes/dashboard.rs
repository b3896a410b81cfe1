//! The Dashboard: counts, what expires soon, and a chart of upcoming expirations.

use super::token_view::{views, TokenView};
use crate::auth::guards::Claim;
use crate::auth::session::TypedSession;
use crate::db::tokens::{self, ActiveFilter};
use crate::error::AppError;
use crate::state::AppState;
use crate::tokens::lists::AccountAt;
use crate::views::{self, Layout};
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDateTime};

use crate::tokens::summary::{CHART_WEEKS, SOON_DAYS, UNUSED_DAYS};

/// How many of the tokens expiring soon the Dashboard lists.
const EXPIRING_SHOWN: i64 = 10;

pub async fn index(session: TypedSession) -> HttpResponse {
    views::see_other(if session.user().is_some() {
        "/dashboard"
    } else {
        "/login"
    })
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub layout: Layout,
    pub counts: tokens::Counts,
    /// The days of "Unused for N days" (`counts.unused`).
    pub unused_days: i64,
    pub expiring: Vec<TokenView>,
    pub chart: Chart,
}

/// A bar chart of active tokens expiring in each of the next 13 weeks, drawn as SVG on
/// the server (no script needed).
pub struct Chart {
    pub bars: Vec<Bar>,
    pub width: i64,
    pub height: i64,
    pub max: i64,
    pub total: i64,
}

pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    pub label: String,
    pub label_x: i64,
    pub count: i64,
    pub show_label: bool,
}

impl Chart {
    const PLOT_HEIGHT: i64 = 120;
    const BAR_WIDTH: i64 = 40;
    const GAP: i64 = 8;

    fn new(weeks: &[(NaiveDateTime, i64)]) -> Self {
        let max = weeks.iter().map(|(_, c)| *c).max().unwrap_or(0);
        let bars = weeks
            .iter()
            .enumerate()
            .map(|(i, (start, count))| {
                let height = crate::views::bar_height(*count, max, Self::PLOT_HEIGHT);
                let x = i as i64 * (Self::BAR_WIDTH + Self::GAP) + Self::GAP;
                Bar {
                    x,
                    y: 20 + Self::PLOT_HEIGHT - height,
                    width: Self::BAR_WIDTH,
                    height,
                    label: start.format("%b %-d").to_string(),
                    label_x: x + Self::BAR_WIDTH / 2,
                    count: *count,
                    show_label: i % 2 == 0,
                }
            })
            .collect();
        Self {
            bars,
            width: CHART_WEEKS * (Self::BAR_WIDTH + Self::GAP) + Self::GAP,
            height: Self::PLOT_HEIGHT + 45,
            max,
            total: weeks.iter().map(|(_, c)| c).sum(),
        }
    }
}

pub async fn dashboard(
    claim: Claim,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let lists = state.clone();
    // The user and the page in one database task (see `Claim`).
    let (user, page) = claim
        .run(&state, move |conn, user| {
            if !user.role.can_review() {
                return Ok(None); // members land on Your account, which names their admins
            }
            let account = AccountAt {
                id: &user.account_id,
                version: user.account.version,
            };
            let summary = lists.token_lists.summary(conn, account, now)?;
            // The soonest to expire, of those expiring within the week.
            let soon = now + Duration::days(SOON_DAYS);
            let shown = summary.counts.expiring_soon.min(EXPIRING_SHOWN);
            let (rows, _) = lists.token_lists.active_page(
                conn,
                account,
                now,
                &ActiveFilter::default(),
                0,
                shown,
            )?;
            let rows = rows
                .into_iter()
                .filter(|(r, _)| r.expires_at <= soon)
                .collect();
            Ok(Some((summary, views(rows, now))))
        })
        .await?;
    let Some((summary, expiring)) = page else {
        return Ok(views::see_other("/account"));
    };
    views::ok(&DashboardPage {
        layout: Layout::new("Dashboard", "dashboard", Some(&user), &session)?,
        counts: summary.counts,
        unused_days: UNUSED_DAYS,
        expiring,
        chart: Chart::new(&summary.weeks),
    })
}
