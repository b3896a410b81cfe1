//! What every handler can reach: the pool, the settings, the keys, the caches and the
//! background workers, made once when the server starts.

use crate::api::recorder::Recorder;
use crate::api::throttle::FailureThrottle;
use crate::auth::device::DeviceCookies;
use crate::auth::lockout::SigninLimits;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::{self, DbConn, DbPool};
use crate::error::AppError;
use crate::keys::ServerKey;
use crate::metrics::Metrics;
use crate::notify::direct::DirectMail;
use crate::notify::mailer::Mailer;
use crate::notify::scheduler::Notifier;
use crate::services::handoffs::HandoffService;
use crate::services::leaks::LeakService;
use crate::services::people::PeopleService;
use crate::services::sessions::SessionService;
use crate::services::tokens::TokenService;
use crate::services::Context;
use crate::tokens::check_cache::CheckCache;
use crate::tokens::checker::TokenChecker;
use crate::tokens::lease::LeaseKeeper;
use crate::tokens::lists::TokenLists;
use crate::tokens::secret::TokenCrypto;
use std::sync::{Arc, Mutex};

/// "Forgot password": at most 3 e-mails to one address an hour, and 20 requests an hour
/// from one client address (IPv6: its /64).
const RESET_WINDOW: std::time::Duration = std::time::Duration::from_secs(60 * 60);
const RESETS_PER_EMAIL: std::num::NonZeroU32 = std::num::NonZeroU32::new(3).unwrap();
const RESETS_PER_ADDRESS: std::num::NonZeroU32 = std::num::NonZeroU32::new(20).unwrap();

/// Leak reports: 60 a minute from one client address (IPv6: its /64), in a burst or spread
/// out; GitHub batches its reports, so that is far more than it sends.
const LEAK_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
const LEAK_REPORTS_PER_MINUTE: std::num::NonZeroU32 = std::num::NonZeroU32::new(60).unwrap();

/// What every handler can reach.
pub struct AppState {
    pub pool: DbPool,
    pub settings: Settings,
    pub crypto: Arc<TokenCrypto>,
    pub clock: SharedClock,
    /// The first-run code printed to the log, until the first account is set up.
    pub setup_code: Mutex<Option<String>>,
    pub throttle: Arc<FailureThrottle>,
    /// Failed sign-ins, per e-mail address and per client address.
    pub signin: SigninLimits,
    /// Password-reset requests, per e-mail address and per client address.
    pub forgot_by_email: FailureThrottle<String>,
    pub forgot_by_address: FailureThrottle,
    /// Leak reports per client address (`routes::leaks`).
    pub leak_reports: FailureThrottle,
    /// Set when reports must be signed (`SESAME_LEAK_REPORT_KEYS_FILE`).
    pub leak_keys: Option<crate::api::leak_keys::LeakReportKeys>,
    /// E-mail holding a one-time link that must never be stored (password resets).
    pub direct_mail: Arc<DirectMail>,
    pub notifier: Arc<Notifier>,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// The API check's cache (on PostgreSQL, answering while `lease` holds).
    pub check_cache: Arc<CheckCache>,
    /// PostgreSQL: keeps this process's lease and applies other processes' token changes.
    pub lease: Option<LeaseKeeper>,
    /// The rules for changing tokens, hand-off links and people (see `services`).
    pub tokens: TokenService,
    pub handoffs: HandoffService,
    pub leaks: LeakService,
    pub people: PeopleService,
    pub sessions: SessionService,
    /// The API's token check, with its cache.
    pub checker: TokenChecker,
    /// The token lists and counts per account (see `tokens::lists`).
    pub token_lists: TokenLists,
    /// Held while the server runs: on SQLite, the proof that it is the one server process.
    _instance_lock: Option<std::fs::File>,
}

impl AppState {
    /// Starts the background workers (scheduler, recorder, direct mail) and gathers what
    /// handlers share. `instance_lock` is SQLite's proof that this is the one server process.
    pub fn start(
        settings: Settings,
        clock: SharedClock,
        key: &ServerKey,
        pool: DbPool,
        instance_lock: Option<std::fs::File>,
        setup_code: Option<String>,
    ) -> anyhow::Result<Self> {
        let throttle = Arc::new(FailureThrottle::new(settings.api_failures_per_minute));
        let metrics = Arc::new(Metrics::default());
        let notifier = Arc::new(
            Notifier::new(
                pool.clone(),
                Mailer::from_settings(&settings)?,
                clock.clone(),
                settings.base_url.clone(),
            )
            .with_weekly_report(settings.weekly_report_day)
            .with_metrics(metrics.clone()),
        );
        notifier.spawn(settings.notify_interval);
        let (check_cache, lease) = check_cache(&settings, instance_lock.is_some());
        let crypto = Arc::new(
            TokenCrypto::new(key).with_previous(ServerKey::load_previous(&settings)?.as_ref()),
        );
        let services = Context {
            pool: pool.clone(),
            clock: clock.clone(),
            crypto: crypto.clone(),
            check_cache: check_cache.clone(),
            notifier: notifier.clone(),
            base_url: settings.base_url.clone(),
        };
        Ok(AppState {
            tokens: TokenService::new(services.clone()),
            handoffs: HandoffService::new(services.clone()),
            leaks: LeakService::new(services.clone()),
            people: PeopleService::new(services.clone()),
            sessions: SessionService::new(services),
            checker: TokenChecker::new(
                pool.clone(),
                &settings.database_url,
                crypto.clone(),
                check_cache.clone(),
            ),
            recorder: Recorder::start(
                pool.clone(),
                throttle.clone(),
                notifier.clone(),
                settings.base_url.clone(),
                check_cache.clone(),
            ),
            notifier,
            metrics,
            signin: SigninLimits::new(
                settings.signin_failures_per_15_min,
                DeviceCookies::new(key.derive::<32>("device cookie v1")),
            ),
            forgot_by_email: FailureThrottle::per_period(RESETS_PER_EMAIL, RESET_WINDOW),
            forgot_by_address: FailureThrottle::per_period(RESETS_PER_ADDRESS, RESET_WINDOW),
            leak_reports: FailureThrottle::per_period(LEAK_REPORTS_PER_MINUTE, LEAK_WINDOW),
            leak_keys: crate::api::leak_keys::LeakReportKeys::from_settings(&settings)?,
            direct_mail: Arc::new(DirectMail::start(
                pool.clone(),
                Mailer::from_settings(&settings)?,
                clock.clone(),
                settings.base_url.clone(),
            )),
            throttle,
            check_cache,
            lease,
            token_lists: TokenLists::default(),
            _instance_lock: instance_lock,
            pool,
            crypto,
            settings,
            clock,
            setup_code: Mutex::new(setup_code),
        })
    }

    /// Runs database work off the async workers; it fails with the application's error.
    pub async fn db<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        db::run(&self.pool, work).await
    }
}

/// The API check's cache. SQLite: the instance lock proves this is the one server process.
/// PostgreSQL: a lease, and every other process's changes heard on a channel
/// (docs/revocation.md).
fn check_cache(
    settings: &Settings,
    single_process: bool,
) -> (Arc<CheckCache>, Option<LeaseKeeper>) {
    if single_process {
        return (Arc::new(CheckCache::single_process()), None);
    }
    let cache = Arc::new(CheckCache::leased());
    let keeper = LeaseKeeper::start(settings.database_url.clone(), &cache);
    (cache, Some(keeper))
}
