//! How a token appears on every page that lists or shows it.

use crate::db::tokens::{ShownToken, TokenRow};
use crate::db::usage_totals::Totals;
use crate::domain::{TokenId, TokenStatus};
use crate::views::TimeView;
use chrono::{Duration, NaiveDateTime};

pub struct TokenView {
    pub id: TokenId,
    pub name: String,
    pub description: String,
    pub username: String,
    pub creator: String,
    pub created: TimeView,
    pub expires: TimeView,
    pub last_used: Option<TimeView>,
    pub last_used_ip: Option<String>,
    pub networks: Vec<String>,
    pub status: TokenStatus,
    pub active: bool,
    pub expires_soon: bool,
    /// When it stopped working: revoked, or expired.
    pub ended: Option<TimeView>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<String>,
    /// Its calls in the lists' windows (`usage_view::fill_calls`); none until then.
    pub calls: Totals,
}

impl TokenView {
    pub fn new(row: TokenRow, networks: Vec<String>, now: NaiveDateTime) -> Self {
        let status = row.status(now);
        let active = status.is_active();
        let ended = match status {
            TokenStatus::Revoked => row.revoked_at,
            TokenStatus::Expired => Some(row.expires_at),
            TokenStatus::Active => None,
        };
        Self {
            expires_soon: active && row.expires_at <= now + Duration::days(7),
            created: TimeView::new(row.created_at, now),
            expires: TimeView::new(row.expires_at, now),
            last_used: TimeView::maybe(row.last_used_at, now),
            ended: TimeView::maybe(ended, now),
            id: row.id,
            name: row.name,
            description: row.description,
            username: row.username,
            creator: row.created_by_email,
            last_used_ip: row.last_used_ip,
            networks,
            status,
            active,
            revoked_by: row.revoked_by_email,
            revoke_reason: row.revoke_reason,
            calls: Totals::default(),
        }
    }

    /// "Any IP", or the first few networks and how many more.
    pub fn networks_summary(&self) -> String {
        match self.networks.len() {
            0 => "Any IP".into(),
            1..=2 => self.networks.join(", "),
            n => format!("{}, {} +{} more", self.networks[0], self.networks[1], n - 2),
        }
    }

    pub fn networks_text(&self) -> String {
        self.networks.join("\n")
    }
}

/// Views of tokens read with their networks (`db::tokens::rows_in_order`).
pub fn views(rows: Vec<ShownToken>, now: NaiveDateTime) -> Vec<TokenView> {
    rows.into_iter()
        .map(|(row, networks)| TokenView::new(row, networks, now))
        .collect()
}
