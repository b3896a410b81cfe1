//! Token lifetimes: the presets, a custom end date, and the 3-month recommendation.

use chrono::{Duration, NaiveDate, NaiveDateTime};

pub const PRESETS: [(&str, i64); 6] = [
    ("7d", 7),
    ("30d", 30),
    ("60d", 60),
    ("90d", 90),
    ("180d", 180),
    ("365d", 365),
];
pub const CUSTOM: &str = "custom";
pub const MAX_DAYS: i64 = 365;
pub const RECOMMENDED_MAX_DAYS: i64 = 90;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("Choose when the token expires.")]
    Missing,
    #[error("Choose one of the listed lifetimes.")]
    UnknownChoice,
    #[error("Enter the expiry date (YYYY-MM-DD).")]
    MissingDate,
    #[error("Enter the expiry date as YYYY-MM-DD.")]
    BadDate,
    #[error("The expiry date cannot be in the past.")]
    PastDate,
    #[error("The expiry date can be at most {0} days from today (this account's policy).")]
    TooFar(i64),
    #[error("This account allows tokens of at most {0} days: choose a shorter lifetime.")]
    BeyondPolicy(i64),
}

/// When a token chosen as `expires_in` (and `expires_on` for a custom date) expires, within
/// the account's longest lifetime, `max_days` (at most `MAX_DAYS`). A custom date D means
/// the end of D in UTC, so the token works all of that day.
pub fn parse(
    expires_in: &str,
    expires_on: &str,
    now: NaiveDateTime,
    max_days: i64,
) -> Result<NaiveDateTime, ExpiryError> {
    let max_days = max_days.clamp(1, MAX_DAYS);
    let choice = expires_in.trim();
    if choice.is_empty() {
        return Err(ExpiryError::Missing);
    }
    if choice == CUSTOM {
        let raw = expires_on.trim();
        if raw.is_empty() {
            return Err(ExpiryError::MissingDate);
        }
        let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| ExpiryError::BadDate)?;
        let today = now.date();
        if date < today {
            return Err(ExpiryError::PastDate);
        }
        if date > today + Duration::days(max_days) {
            return Err(ExpiryError::TooFar(max_days));
        }
        return Ok((date + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists"));
    }
    match PRESETS.iter().find(|(key, _)| *key == choice) {
        Some((_, days)) if *days > max_days => Err(ExpiryError::BeyondPolicy(max_days)),
        Some((_, days)) => Ok(now + Duration::days(*days)),
        None => Err(ExpiryError::UnknownChoice),
    }
}

/// The lifetime Add Token starts with: 30 days, or the longest the account allows if that
/// is shorter (a custom date when no preset fits).
pub fn default_choice(max_days: i64) -> &'static str {
    presets_within(max_days.min(30))
        .last()
        .map_or(CUSTOM, |(key, _)| *key)
}

/// The presets an account with this longest lifetime offers.
pub fn presets_within(max_days: i64) -> impl Iterator<Item = &'static (&'static str, i64)> {
    PRESETS.iter().filter(move |(_, days)| *days <= max_days)
}

/// Longer than the 3 months we recommend (a custom date up to today + 90 days is within it).
pub fn beyond_recommendation(expires_at: NaiveDateTime, now: NaiveDateTime) -> bool {
    expires_at > now + Duration::days(RECOMMENDED_MAX_DAYS + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 28)
            .unwrap()
            .and_hms_opt(10, 30, 0)
            .unwrap()
    }

    #[test]
    fn presets_add_whole_days() {
        assert_eq!(
            parse("7d", "", now(), MAX_DAYS).unwrap(),
            now() + Duration::days(7)
        );
        assert_eq!(
            parse("365d", "ignored", now(), MAX_DAYS).unwrap(),
            now() + Duration::days(365)
        );
    }

    #[test]
    fn a_custom_date_ends_at_the_next_midnight_utc() {
        let at = parse("custom", "2026-12-24", now(), MAX_DAYS).unwrap();
        assert_eq!(at.to_string(), "2026-12-25 00:00:00");
        assert_eq!(
            parse("custom", "2026-11-28", now(), MAX_DAYS)
                .unwrap()
                .to_string(),
            "2026-11-29 00:00:00"
        );
        assert!(parse("custom", "2027-11-28", now(), MAX_DAYS).is_ok());
    }

    #[test]
    fn bad_choices_are_explained() {
        assert_eq!(parse("", "", now(), MAX_DAYS), Err(ExpiryError::Missing));
        assert_eq!(
            parse("8d", "", now(), MAX_DAYS),
            Err(ExpiryError::UnknownChoice)
        );
        assert_eq!(
            parse("custom", " ", now(), MAX_DAYS),
            Err(ExpiryError::MissingDate)
        );
        assert_eq!(
            parse("custom", "24/12/2026", now(), MAX_DAYS),
            Err(ExpiryError::BadDate)
        );
        assert_eq!(
            parse("custom", "2026-11-27", now(), MAX_DAYS),
            Err(ExpiryError::PastDate)
        );
        assert_eq!(
            parse("custom", "2027-11-29", now(), MAX_DAYS),
            Err(ExpiryError::TooFar(365))
        );
    }

    #[test]
    fn the_accounts_policy_caps_presets_and_dates() {
        assert_eq!(
            parse("30d", "", now(), 30).unwrap(),
            now() + Duration::days(30)
        );
        assert_eq!(
            parse("60d", "", now(), 30),
            Err(ExpiryError::BeyondPolicy(30))
        );
        assert!(parse("custom", "2026-12-28", now(), 30).is_ok());
        assert_eq!(
            parse("custom", "2026-12-29", now(), 30),
            Err(ExpiryError::TooFar(30))
        );
        let offered: Vec<&str> = presets_within(60).map(|(key, _)| *key).collect();
        assert_eq!(offered, ["7d", "30d", "60d"]);
        assert_eq!(presets_within(3).count(), 0);
        assert_eq!(default_choice(365), "30d");
        assert_eq!(default_choice(20), "7d");
        assert_eq!(default_choice(3), "custom");
    }

    #[test]
    fn the_recommendation_is_three_months() {
        assert!(!beyond_recommendation(
            parse("90d", "", now(), MAX_DAYS).unwrap(),
            now()
        ));
        assert!(!beyond_recommendation(
            parse("custom", "2027-02-26", now(), MAX_DAYS).unwrap(),
            now()
        ));
        assert!(beyond_recommendation(
            parse("custom", "2027-02-27", now(), MAX_DAYS).unwrap(),
            now()
        ));
        assert!(beyond_recommendation(
            parse("180d", "", now(), MAX_DAYS).unwrap(),
            now()
        ));
    }
}
