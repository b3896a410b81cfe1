//! What every page shares: the layout (navigation, flash, CSRF token), times shown both
//! relative and exact, pagination, and rendering with the right status and headers.

use crate::auth::guards::CurrentUser;
use crate::auth::session::{Flash, TypedSession};
use crate::domain::Role;
use crate::error::AppError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use chrono::NaiveDateTime;

pub struct Layout {
    pub title: String,
    pub section: &'static str,
    pub user: Option<NavUser>,
    pub csrf_token: String,
    pub flash: Option<Flash>,
    pub css_url: &'static str,
    pub js_url: &'static str,
}

pub struct NavUser {
    pub email: String,
    pub role: &'static str,
    pub account_name: String,
    pub is_admin: bool,
    pub can_review: bool,
}

impl Layout {
    pub fn new(
        title: impl Into<String>,
        section: &'static str,
        user: Option<&CurrentUser>,
        session: &TypedSession,
    ) -> Result<Self, AppError> {
        Ok(Self {
            title: title.into(),
            section,
            user: user.map(|u| NavUser {
                email: u.email.clone(),
                role: u.role.as_str(),
                account_name: u.account_name.clone(),
                is_admin: u.role == Role::Admin,
                can_review: u.role.can_review(),
            }),
            csrf_token: session.csrf_token()?,
            flash: session.take_flash(),
            css_url: &crate::statics::CSS.url,
            js_url: &crate::statics::JS.url,
        })
    }
}

/// A moment shown as "in 3 days", with the exact UTC time on hover and for machines.
#[derive(Debug, Clone)]
pub struct TimeView {
    pub iso: String,
    pub exact: String,
    pub relative: String,
}

impl TimeView {
    pub fn new(at: NaiveDateTime, now: NaiveDateTime) -> Self {
        use chrono::{Datelike, Timelike};
        // Digits pushed by hand: lists show a hundred times a page, and `format!` was a
        // seventh of the server's CPU on a token list page (bench/RESULTS.md).
        let (date, time) = (at.date(), at.time());
        let mut day = String::with_capacity(10);
        match u32::try_from(date.year()) {
            Ok(year) if year <= 9999 => push_digits(&mut day, year, 4),
            _ => day.push_str(&format!("{:04}", date.year())),
        }
        for part in [date.month(), date.day()] {
            day.push('-');
            push_digits(&mut day, part, 2);
        }
        let mut iso = String::with_capacity(20);
        iso.push_str(&day);
        let mut exact = String::with_capacity(20);
        exact.push_str(&day);
        for (i, part) in [time.hour(), time.minute(), time.second()]
            .into_iter()
            .enumerate()
        {
            iso.push(if i == 0 { 'T' } else { ':' });
            push_digits(&mut iso, part, 2);
            if i < 2 {
                exact.push(if i == 0 { ' ' } else { ':' });
                push_digits(&mut exact, part, 2);
            }
        }
        iso.push('Z');
        exact.push_str(" UTC");
        Self {
            iso,
            exact,
            relative: relative(at, now),
        }
    }

    pub fn maybe(at: Option<NaiveDateTime>, now: NaiveDateTime) -> Option<Self> {
        at.map(|at| Self::new(at, now))
    }
}

/// `value` in decimal, zero-padded to at least `width` digits.
fn push_digits(out: &mut String, value: impl Into<u64>, width: usize) {
    let mut digits = [b'0'; 20];
    let mut rest = value.into();
    let mut len = 0;
    while rest > 0 || len < width.max(1) {
        digits[digits.len() - 1 - len] = b'0' + (rest % 10) as u8;
        rest /= 10;
        len += 1;
    }
    for &digit in &digits[digits.len() - len..] {
        out.push(char::from(digit));
    }
}

fn relative(at: NaiveDateTime, now: NaiveDateTime) -> String {
    let seconds = (at - now).num_seconds();
    let magnitude = seconds.unsigned_abs();
    if magnitude < 60 {
        return "just now".into();
    }
    let (unit_seconds, unit) = match magnitude {
        m if m < 3_600 => (60, "minute"),
        m if m < 86_400 => (3_600, "hour"),
        m if m < 86_400 * 60 => (86_400, "day"),
        m if m < 86_400 * 730 => (86_400 * 30, "month"),
        _ => (86_400 * 365, "year"),
    };
    // Rounded, so a 7-day token created a second ago says "in 7 days".
    let count = (magnitude + unit_seconds / 2) / unit_seconds;
    let mut out = String::with_capacity(24);
    if seconds > 0 {
        out.push_str("in ");
    }
    push_digits(&mut out, count, 1);
    out.push(' ');
    out.push_str(unit);
    if count != 1 {
        out.push('s');
    }
    if seconds <= 0 {
        out.push_str(" ago");
    }
    out
}

pub const PAGE_SIZE: i64 = 25;

/// Page links that keep the other query parameters (the search).
pub struct Pagination {
    pub page: i64,
    pub pages: i64,
    pub total: i64,
    pub prev_url: Option<String>,
    pub next_url: Option<String>,
    last_url: String,
}

impl Pagination {
    pub fn new(base: &str, extra_query: &str, page: i64, total: i64) -> Self {
        let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
        let url = |p: i64| format!("{base}?page={p}{extra_query}");
        Self {
            page,
            pages,
            total,
            prev_url: (page > 1).then(|| url(page - 1)),
            next_url: (page < pages).then(|| url(page + 1)),
            last_url: url(pages),
        }
    }

    /// Where to send a request for a page past the end (an empty page would look like "no
    /// tokens"), if it was one.
    pub fn beyond_end(&self) -> Option<&str> {
        (self.page > self.pages).then_some(self.last_url.as_str())
    }

    /// The requested page (from `?page=`), clamped to 1 and a sane maximum.
    pub fn requested(page: Option<&str>) -> i64 {
        page.and_then(|p| p.trim().parse::<i64>().ok())
            .unwrap_or(1)
            .clamp(1, 1_000_000)
    }

    pub fn offset(page: i64) -> i64 {
        (page - 1) * PAGE_SIZE
    }
}

/// Renders a page. Pages are per-user and may carry secrets or CSRF tokens: never cached.
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AppError> {
    let html = page
        .render()
        .map_err(|e| AppError::internal(format!("template: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html))
}

pub fn ok(page: &impl Template) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, page)
}

/// 303 See Other: where a successful POST sends the browser.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub status: u16,
    pub title: &'static str,
    pub message: String,
}

impl ErrorPage {
    pub fn css_url(&self) -> &str {
        &crate::statics::CSS.url
    }

    /// A 403 means someone is signed in with the wrong role: let them switch accounts.
    pub fn offer_sign_out(&self) -> bool {
        self.status == 403
    }
}

/// A page answering 429: `Retry-After` in whole seconds, and the wait in words for the
/// message ("Try again in {minutes}.").
pub fn too_many_requests(
    wait: std::time::Duration,
    page: impl FnOnce(&str) -> Result<HttpResponse, AppError>,
) -> Result<HttpResponse, AppError> {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    let words = format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" });
    let mut response = page(&words)?;
    response.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from(wait.as_secs().max(1)),
    );
    Ok(response)
}

/// How each kind of error answers: the page for it is rendered here, at the edge.
impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated | AppError::SignInFirst(_) => StatusCode::SEE_OTHER,
            AppError::Forbidden(_) | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            AppError::Unauthenticated => return see_other("/login"),
            AppError::SignInFirst(target) => {
                let next: String =
                    url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
                return see_other(&format!("/login?next={next}"));
            }
            AppError::Internal(cause) => {
                tracing::error!(detail = format!("{cause:#}"), "request failed")
            }
            _ => {}
        }
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message: self.to_string(),
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            AppError::Unavailable => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            AppError::RequestTimeout => {
                response.force_close();
            }
            _ => {}
        }
        match page.render() {
            Ok(html) => response.content_type("text/html; charset=utf-8").body(html),
            Err(_) => response
                .content_type("text/plain; charset=utf-8")
                .body(self.to_string()),
        }
    }
}

/// Where the token API is and how to try a token on it, for whoever holds the credentials:
/// the whole address from `SESAME_BASE_URL`, and a curl command with the username filled
/// in (curl asks for the password, which so stays out of shell history).
pub struct ApiUsage {
    pub url: String,
    pub curl: String,
}

impl ApiUsage {
    pub fn new(base_url: &url::Url, username: &str) -> Self {
        let url = crate::links::absolute(base_url, "api/v1/whoami");
        Self {
            curl: format!("curl -u {username} {url}"),
            url,
        }
    }
}

/// A chart bar's height for `count` out of `max` in a plot `plot` high: rounded up, so no
/// count above zero draws an invisible bar.
pub fn bar_height(count: i64, max: i64, plot: i64) -> i64 {
    match max {
        0 => 0,
        max => (count * plot + max - 1) / max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    #[test]
    fn relative_times_read_naturally() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        assert_eq!(relative(now + Duration::days(3), now), "in 3 days");
        assert_eq!(relative(now - Duration::hours(1), now), "1 hour ago");
        assert_eq!(relative(now + Duration::seconds(5), now), "just now");
        assert_eq!(relative(now + Duration::days(90), now), "in 3 months");
        assert_eq!(
            relative(now + Duration::days(7) - Duration::seconds(2), now),
            "in 7 days"
        );
    }

    #[test]
    fn exact_times_are_utc_to_the_minute_and_iso_to_the_second() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 3, 4)
            .unwrap()
            .and_hms_milli_opt(5, 6, 7, 890)
            .unwrap();
        let view = TimeView::new(at, at);
        assert_eq!(view.exact, "2026-03-04 05:06 UTC");
        assert_eq!(view.iso, "2026-03-04T05:06:07Z");
        let early = NaiveDate::from_ymd_opt(987, 11, 30)
            .unwrap()
            .and_hms_opt(23, 59, 0)
            .unwrap();
        assert_eq!(TimeView::new(early, early).iso, "0987-11-30T23:59:00Z");
        let late = NaiveDate::from_ymd_opt(12345, 1, 2)
            .unwrap()
            .and_hms_opt(0, 0, 9)
            .unwrap();
        assert_eq!(TimeView::new(late, late).exact, "12345-01-02 00:00 UTC");
    }

    #[test]
    fn counts_of_more_than_one_digit_read_naturally() {
        let now = NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert_eq!(relative(now + Duration::days(45), now), "in 45 days");
        assert_eq!(relative(now - Duration::minutes(59), now), "59 minutes ago");
        assert_eq!(
            relative(now - Duration::days(365 * 120), now),
            "120 years ago"
        );
        assert_eq!(relative(now - Duration::days(1), now), "1 day ago");
    }

    #[test]
    fn pagination_keeps_the_search() {
        let p = Pagination::new("/tokens", "&q=ci", 2, 60);
        assert_eq!(p.pages, 3);
        assert_eq!(p.prev_url.as_deref(), Some("/tokens?page=1&q=ci"));
        assert_eq!(p.next_url.as_deref(), Some("/tokens?page=3&q=ci"));
    }
}
