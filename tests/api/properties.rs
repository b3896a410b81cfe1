//! Property tests for the parsers that face the outside world: arbitrary input never
//! panics, and what they accept means what it says.

use base64::Engine;
use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use sesame::domain::networks::{self, AllowedNetworks};
use sesame::tokens::{basic, expiry};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn basic_credentials_never_panic(header in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Some(creds) = basic::parse(&header) {
            prop_assert!(!creds.username().is_empty());
            prop_assert!(!creds.username().contains(':'));
            prop_assert!(!creds.username().chars().chain(creds.password().chars()).any(char::is_control));
        }
    }

    #[test]
    fn basic_credentials_round_trip(user in "[^:\\p{Cc}]{1,40}", password in "\\PC{0,80}") {
        let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
        let creds = basic::parse(header.as_bytes());
        if header.len() <= basic::MAX_HEADER_BYTES {
            let creds = creds.expect("valid credentials parse");
            prop_assert_eq!(creds.username(), user.as_str());
            prop_assert_eq!(creds.password(), password.as_str());
        } else {
            prop_assert!(creds.is_none());
        }
    }

    #[test]
    fn network_lists_never_panic_and_accepted_networks_are_canonical(text in "\\PC{0,300}") {
        if let Ok(list) = AllowedNetworks::parse(&text) {
            let stored = list.canonical();
            prop_assert!(stored.len() <= networks::MAX_NETWORKS);
            let read = AllowedNetworks::from_stored(stored.iter().map(String::as_str)).unwrap();
            prop_assert_eq!(read.canonical(), stored);
            prop_assert_eq!(read, list);
        }
    }

    #[test]
    fn generated_networks_are_accepted(a in any::<u8>(), b in any::<u8>(), prefix in 1u8..=32, v6 in any::<u128>(), p6 in 1u8..=128) {
        let text = format!("10.{a}.{b}.1/{prefix}\n{}/{p6}", std::net::Ipv6Addr::from(v6));
        let list = AllowedNetworks::parse(&text).unwrap();
        prop_assert!(!list.is_empty() && list.canonical().len() <= 2);
        let host: std::net::IpAddr = format!("10.{a}.{b}.1").parse().unwrap();
        prop_assert!(list.allows(Some(host)));
    }

    #[test]
    fn expiry_choices_never_panic_and_stay_within_a_year(choice in "\\PC{0,12}", date in "\\PC{0,14}", day in 0i64..800) {
        let now = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap().and_hms_opt(12, 0, 0).unwrap();
        for (choice, date) in [(choice.as_str(), date.as_str()), ("custom", &*(now.date() + Duration::days(day - 10)).to_string())] {
            if let Ok(at) = expiry::parse(choice, date, now, expiry::MAX_DAYS) {
                prop_assert!(at > now);
                prop_assert!(at <= now + Duration::days(expiry::MAX_DAYS + 1));
            }
        }
    }
}
