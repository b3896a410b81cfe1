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
pub const RECOMMENDATION: &str = "We recommend tokens of at most 3 months";

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
    #[error("The expiry date can be at most 365 days from today.")]
    TooFar,
}

/// When a token chosen as `expires_in` (and `expires_on` for a custom date) expires.
/// A custom date D means the end of D in UTC, so the token works all of that day.
pub fn parse(
    expires_in: &str,
    expires_on: &str,
    now: NaiveDateTime,
) -> Result<NaiveDateTime, ExpiryError> {
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
        if date > today + Duration::days(MAX_DAYS) {
            return Err(ExpiryError::TooFar);
        }
        return Ok((date + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists"));
    }
    PRESETS
        .iter()
        .find(|(key, _)| *key == choice)
        .map(|(_, days)| now + Duration::days(*days))
        .ok_or(ExpiryError::UnknownChoice)
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
        assert_eq!(parse("7d", "", now()).unwrap(), now() + Duration::days(7));
        assert_eq!(
            parse("365d", "ignored", now()).unwrap(),
            now() + Duration::days(365)
        );
    }

    #[test]
    fn a_custom_date_ends_at_the_next_midnight_utc() {
        let at = parse("custom", "2026-12-24", now()).unwrap();
        assert_eq!(at.to_string(), "2026-12-25 00:00:00");
        assert_eq!(
            parse("custom", "2026-11-28", now()).unwrap().to_string(),
            "2026-11-29 00:00:00"
        );
        assert!(parse("custom", "2027-11-28", now()).is_ok());
    }

    #[test]
    fn bad_choices_are_explained() {
        assert_eq!(parse("", "", now()), Err(ExpiryError::Missing));
        assert_eq!(parse("8d", "", now()), Err(ExpiryError::UnknownChoice));
        assert_eq!(parse("custom", " ", now()), Err(ExpiryError::MissingDate));
        assert_eq!(
            parse("custom", "24/12/2026", now()),
            Err(ExpiryError::BadDate)
        );
        assert_eq!(
            parse("custom", "2026-11-27", now()),
            Err(ExpiryError::PastDate)
        );
        assert_eq!(
            parse("custom", "2027-11-29", now()),
            Err(ExpiryError::TooFar)
        );
    }

    #[test]
    fn the_recommendation_is_three_months() {
        assert!(!beyond_recommendation(
            parse("90d", "", now()).unwrap(),
            now()
        ));
        assert!(!beyond_recommendation(
            parse("custom", "2027-02-26", now()).unwrap(),
            now()
        ));
        assert!(beyond_recommendation(
            parse("custom", "2027-02-27", now()).unwrap(),
            now()
        ));
        assert!(beyond_recommendation(
            parse("180d", "", now()).unwrap(),
            now()
        ));
    }
}
