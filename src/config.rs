//! Typed settings from `SESAME_*` environment variables, validated once at start.

use ipnetwork::IpNetwork;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// A configuration problem, naming the variable so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
#[error("invalid {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn bad(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

/// Which database, chosen by the URL scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err("an sqlite URL needs a file path, e.g. sqlite://data/sesame.db".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let url = Url::parse(raw).map_err(|e| format!("not a valid PostgreSQL URL: {e}"))?;
            return Ok(Self::Postgres(without_tls_on_loopback(raw, &url)));
        }
        Err("expected sqlite://PATH or postgres://USER@HOST/DATABASE".into())
    }
}

/// A database on this machine's loopback gets `sslmode=disable` unless the URL names a
/// mode: libpq's default (`prefer`) would encrypt traffic that never leaves the machine,
/// and TLS was an eighth of the server's CPU on a token list page (bench/RESULTS.md).
/// Untouched when libpq may go elsewhere or was told a mode some other way: a `host`,
/// `hostaddr` or `service` parameter overrides the URL's host, and `PGSSLMODE` sets the
/// mode (an explicit `sslmode` in the URL would override it).
fn without_tls_on_loopback(raw: &str, url: &Url) -> String {
    without_tls_on_loopback_given(raw, url, std::env::var_os("PGSSLMODE").is_some())
}

fn without_tls_on_loopback_given(raw: &str, url: &Url, mode_in_environment: bool) -> String {
    let loopback = match url.host() {
        // An IPv4 address in a `postgres://` URL is a domain to the `url` crate.
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let elsewhere_or_named = url
        .query_pairs()
        .any(|(key, _)| matches!(&*key, "sslmode" | "host" | "hostaddr" | "service"));
    if !loopback || elsewhere_or_named || mode_in_environment {
        return raw.to_string();
    }
    let separator = if url.query().is_some() { '&' } else { '?' };
    format!("{raw}{separator}sslmode=disable")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A secret string that never prints itself.
#[derive(Clone)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(***)")
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    pub base_url: Url,
    pub secret_key: Option<SecretString>,
    /// The key before the last rotation, still accepted for stored secrets.
    pub previous_secret_key: Option<SecretString>,
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    pub trusted_proxies: Vec<IpNetwork>,
    pub notify_interval: Duration,
    pub log_format: LogFormat,
    /// A session ends after this long without a request, and this long after sign-in.
    pub session_idle: chrono::Duration,
    pub session_max: chrono::Duration,
    /// Sensitive actions need a password typed within this long.
    pub sudo_window: chrono::Duration,
    /// Failed sign-ins allowed per e-mail address per 15 minutes (five times as many per
    /// client address).
    pub signin_failures_per_15_min: std::num::NonZeroU32,
    /// Failed API credential checks allowed per client address per minute.
    pub api_failures_per_minute: std::num::NonZeroU32,
    /// When set, `/metrics` answers only requests bearing it (Prometheus `bearer_token`).
    pub metrics_token: Option<SecretString>,
    /// A request body not complete within this long answers 408 (slow senders hold no
    /// connection for long).
    pub body_timeout: Duration,
    /// GitHub's public keys for signed leak reports; unset, reports are accepted unsigned.
    pub leak_report_keys_file: Option<PathBuf>,
    /// The weekday whose first tick queues each account's weekly token report; `None`
    /// (`off`) leaves it to `sesame digest --once` from cron.
    pub weekly_report_day: Option<chrono::Weekday>,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds settings from any variable lookup (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(lookup);
        let bind: SocketAddr = match vars.get("SESAME_BIND") {
            Some(raw) => raw.trim().parse().map_err(|_| {
                bad(
                    "SESAME_BIND",
                    format!("{raw:?} is not an address like 127.0.0.1:8080"),
                )
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let data_dir = PathBuf::from(
            vars.get("SESAME_DATA_DIR")
                .unwrap_or_else(|| "./data".into()),
        );
        Ok(Self {
            database_url: vars.database_url(&data_dir)?,
            base_url: vars.base_url(bind)?,
            secret_key: vars.secret_key("SESAME_SECRET_KEY", " (e.g. `openssl rand -hex 32`)")?,
            previous_secret_key: vars.secret_key("SESAME_PREVIOUS_SECRET_KEY", "")?,
            smtp_url: vars.smtp_url()?,
            mail_from: vars
                .get("SESAME_MAIL_FROM")
                .unwrap_or_else(|| "Sesame Tokens <sesame@localhost>".into()),
            trusted_proxies: match vars.get("SESAME_TRUSTED_PROXIES") {
                Some(raw) => parse_proxies(&raw).map_err(|m| bad("SESAME_TRUSTED_PROXIES", m))?,
                None => Vec::new(),
            },
            notify_interval: vars.seconds("SESAME_NOTIFY_INTERVAL_SECS", 86_400, 60)?,
            api_failures_per_minute: vars.count("SESAME_API_MAX_FAILURES_PER_MINUTE", 30)?,
            metrics_token: vars.metrics_token()?,
            body_timeout: vars.seconds("SESAME_BODY_TIMEOUT_SECS", 600, 20)?,
            log_format: vars.log_format()?,
            leak_report_keys_file: vars.get("SESAME_LEAK_REPORT_KEYS_FILE").map(PathBuf::from),
            weekly_report_day: vars.weekday_or_off("SESAME_WEEKLY_REPORT_DAY")?,
            signin_failures_per_15_min: vars.count("SESAME_SIGNIN_MAX_FAILURES", 10)?,
            session_idle: vars.minutes("SESAME_SESSION_IDLE_MINUTES", 30)?,
            session_max: vars.minutes("SESAME_SESSION_MAX_MINUTES", 12 * 60)?,
            sudo_window: vars.minutes("SESAME_SUDO_MINUTES", 15)?,
            bind,
            data_dir,
        })
    }

    /// Cookies get the Secure flag only when users reach us over https.
    pub fn https(&self) -> bool {
        self.base_url.scheme() == "https"
    }
}

/// The variables, and a parser for each kind of setting. A blank variable counts as unset.
struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    fn database_url(&self, data_dir: &std::path::Path) -> Result<DatabaseUrl, ConfigError> {
        match self.get("SESAME_DATABASE_URL") {
            Some(raw) => DatabaseUrl::parse(raw.trim()).map_err(|m| bad("SESAME_DATABASE_URL", m)),
            None => Ok(DatabaseUrl::Sqlite(data_dir.join("sesame.db"))),
        }
    }

    fn base_url(&self, bind: SocketAddr) -> Result<Url, ConfigError> {
        let Some(raw) = self.get("SESAME_BASE_URL") else {
            return Ok(Url::parse(&format!("http://{bind}")).expect("a socket address forms a URL"));
        };
        let url = Url::parse(raw.trim())
            .map_err(|e| bad("SESAME_BASE_URL", format!("{raw:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(bad(
                "SESAME_BASE_URL",
                "expected http://HOST[:PORT] or https://HOST",
            ));
        }
        Ok(url)
    }

    /// A server key: at least 32 characters.
    fn secret_key(
        &self,
        name: &'static str,
        hint: &str,
    ) -> Result<Option<SecretString>, ConfigError> {
        match self.get(name) {
            Some(raw) if raw.len() < 32 => {
                Err(bad(name, format!("must be at least 32 characters{hint}")))
            }
            other => Ok(other.map(SecretString::new)),
        }
    }

    fn smtp_url(&self) -> Result<Option<SecretString>, ConfigError> {
        let Some(url) = self.get("SESAME_SMTP_URL").map(SecretString::new) else {
            return Ok(None);
        };
        let parsed = Url::parse(url.expose()).map_err(|_| {
            bad(
                "SESAME_SMTP_URL",
                "not a URL (expected smtp://HOST:PORT or smtps://USER:PASS@HOST)",
            )
        })?;
        if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host().is_none() {
            return Err(bad(
                "SESAME_SMTP_URL",
                "expected smtp://HOST:PORT or smtps://USER:PASS@HOST",
            ));
        }
        Ok(Some(url))
    }

    fn metrics_token(&self) -> Result<Option<SecretString>, ConfigError> {
        match self.get("SESAME_METRICS_TOKEN") {
            Some(raw) if raw.trim().len() < 16 => Err(bad(
                "SESAME_METRICS_TOKEN",
                "must be at least 16 characters (e.g. `openssl rand -hex 32`)",
            )),
            other => Ok(other.map(|raw| SecretString::new(raw.trim().to_string()))),
        }
    }

    fn log_format(&self) -> Result<LogFormat, ConfigError> {
        match self.get("SESAME_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") => Ok(LogFormat::Text),
            Some("json") => Ok(LogFormat::Json),
            Some(_) => Err(bad("SESAME_LOG_FORMAT", "expected text or json")),
        }
    }

    /// A weekday in English (`monday`, the default, to `sunday`), or `off`.
    fn weekday_or_off(&self, name: &'static str) -> Result<Option<chrono::Weekday>, ConfigError> {
        match self.get(name).map(|raw| raw.trim().to_ascii_lowercase()) {
            None => Ok(Some(chrono::Weekday::Mon)),
            Some(raw) if raw == "off" => Ok(None),
            Some(raw) => match raw.parse::<chrono::Weekday>() {
                Ok(day) => Ok(Some(day)),
                Err(_) => Err(bad(name, "expected a weekday (monday to sunday) or off")),
            },
        }
    }

    /// Whole seconds from 1 to `max`.
    fn seconds(&self, name: &'static str, max: u64, default: u64) -> Result<Duration, ConfigError> {
        match self.get(name) {
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(secs) if (1..=max).contains(&secs) => Ok(Duration::from_secs(secs)),
                _ => Err(bad(name, format!("expected whole seconds from 1 to {max}"))),
            },
            None => Ok(Duration::from_secs(default)),
        }
    }

    /// A whole number from 1.
    fn count(&self, name: &'static str, default: u32) -> Result<std::num::NonZeroU32, ConfigError> {
        let default = std::num::NonZeroU32::new(default).expect("defaults are not zero");
        match self.get(name) {
            Some(raw) => raw
                .trim()
                .parse::<std::num::NonZeroU32>()
                .map_err(|_| bad(name, "expected a whole number from 1")),
            None => Ok(default),
        }
    }

    /// Whole minutes from 1.
    fn minutes(&self, name: &'static str, default: i64) -> Result<chrono::Duration, ConfigError> {
        match self.get(name) {
            Some(raw) => match raw.trim().parse::<i64>() {
                Ok(m) if (1..=100_000_000).contains(&m) => Ok(chrono::Duration::minutes(m)),
                _ => Err(bad(name, "expected whole minutes from 1")),
            },
            None => Ok(chrono::Duration::minutes(default)),
        }
    }
}

/// Comma- or space-separated addresses or CIDR networks.
fn parse_proxies(raw: &str) -> Result<Vec<IpNetwork>, String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            crate::domain::networks::parse_network(s)
                .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_sqlite_in_the_data_directory() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(
            s.database_url,
            DatabaseUrl::Sqlite(PathBuf::from("./data/sesame.db"))
        );
        assert_eq!(s.notify_interval, Duration::from_secs(60));
        assert_eq!(s.weekly_report_day, Some(chrono::Weekday::Mon));
        assert!(!s.https());
    }

    #[test]
    fn the_weekly_report_goes_out_on_a_named_day_or_never() {
        let day = |raw: &str| settings(&[("SESAME_WEEKLY_REPORT_DAY", raw)]).unwrap();
        assert_eq!(day("Friday").weekly_report_day, Some(chrono::Weekday::Fri));
        assert_eq!(day(" off ").weekly_report_day, None);
    }

    #[test]
    fn each_bad_variable_is_named_in_the_error() {
        for (var, value) in [
            ("SESAME_BIND", "localhost"),
            ("SESAME_DATABASE_URL", "mysql://x"),
            ("SESAME_BASE_URL", "ftp://x"),
            ("SESAME_SECRET_KEY", "short"),
            ("SESAME_SMTP_URL", "http://mail"),
            ("SESAME_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("SESAME_NOTIFY_INTERVAL_SECS", "0"),
            ("SESAME_API_MAX_FAILURES_PER_MINUTE", "0"),
            ("SESAME_LOG_FORMAT", "xml"),
            ("SESAME_WEEKLY_REPORT_DAY", "someday"),
        ] {
            let error = settings(&[(var, value)]).unwrap_err();
            assert_eq!(error.var, var);
            assert!(error.to_string().contains(var));
        }
    }

    #[test]
    fn postgres_urls_select_postgres() {
        let s = settings(&[("SESAME_DATABASE_URL", "postgres://postgres@127.0.0.1/test")]).unwrap();
        assert!(matches!(s.database_url, DatabaseUrl::Postgres(_)));
    }

    #[test]
    fn a_loopback_database_is_reached_without_tls_unless_the_url_says_otherwise() {
        let parsed = |raw: &str| match DatabaseUrl::parse(raw).unwrap() {
            DatabaseUrl::Postgres(url) => url,
            other => panic!("{other:?}"),
        };
        for (raw, expected) in [
            (
                "postgres://u@127.0.0.1/db",
                "postgres://u@127.0.0.1/db?sslmode=disable",
            ),
            (
                "postgres://u@127.8.0.1:5433/db",
                "postgres://u@127.8.0.1:5433/db?sslmode=disable",
            ),
            (
                "postgresql://u@LocalHost/db",
                "postgresql://u@LocalHost/db?sslmode=disable",
            ),
            (
                "postgres://u:p%40ss@[::1]/db?connect_timeout=5",
                "postgres://u:p%40ss@[::1]/db?connect_timeout=5&sslmode=disable",
            ),
            // Named by the operator: kept.
            (
                "postgres://u@127.0.0.1/db?sslmode=require",
                "postgres://u@127.0.0.1/db?sslmode=require",
            ),
            // Another machine, or libpq's default socket: untouched.
            ("postgres://u@db.internal/db", "postgres://u@db.internal/db"),
            ("postgres://u@10.0.0.5/db", "postgres://u@10.0.0.5/db"),
            ("postgres:///db", "postgres:///db"),
            // libpq would go where these say, not to the URL's host: untouched.
            (
                "postgres://u@localhost/db?host=db.internal",
                "postgres://u@localhost/db?host=db.internal",
            ),
            (
                "postgres://u@127.0.0.1/db?hostaddr=10.0.0.5",
                "postgres://u@127.0.0.1/db?hostaddr=10.0.0.5",
            ),
            (
                "postgres://u@localhost/db?service=main",
                "postgres://u@localhost/db?service=main",
            ),
        ] {
            assert_eq!(parsed(raw), expected, "{raw}");
        }
        // A mode set in the environment (PGSSLMODE) is the operator's: untouched.
        let raw = "postgres://u@127.0.0.1/db";
        let url = Url::parse(raw).unwrap();
        assert_eq!(without_tls_on_loopback_given(raw, &url, true), raw);
        assert_eq!(
            without_tls_on_loopback_given(raw, &url, false),
            "postgres://u@127.0.0.1/db?sslmode=disable"
        );
    }
}
