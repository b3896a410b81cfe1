//! Builds the application: data directory, server key, database, and the HTTP server with
//! its middleware and routes. Tests build it on port 0 with a movable clock.

use crate::auth::store::{self, DbSessionStore};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::keys::ServerKey;
use crate::notify::direct::DirectMail;
use crate::notify::scheduler::Notifier;
use crate::routes;
use crate::state::AppState;
use crate::tokens::check_cache::CheckCache;
use actix_session::config::CookieContentSecurity;
use actix_session::SessionMiddleware;
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, DefaultHeaders, Next};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

pub const SESSION_COOKIE: &str = "sesame_session";
impl Application {
    /// Prepares everything and binds the listener; the server runs once awaited.
    /// Must be called within an async runtime.
    pub fn build(mut settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        prepare_data_dir(&settings)?;
        let instance_lock = db::instance_lock::acquire(&settings.database_url)?;
        let key = ServerKey::load_or_generate(&settings)?;
        let pool = db::connect(&settings.database_url)?;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let blocking_per_worker = (pool.max_size() as usize).div_ceil(workers).max(2);
        let cookie_key = Key::from(&key.derive::<64>("session cookie v1"));
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("cannot listen on {} (SESAME_BIND)", settings.bind))?;
        let port = listener.local_addr()?.port();
        // Port 0 asks the system for a port: links in pages and e-mails use the one it gave.
        if settings.base_url.port() == Some(0) {
            let _ = settings.base_url.set_port(Some(port));
        }
        let setup_code = first_run_code(&pool, &settings)?;
        let https = settings.https();
        let state = web::Data::new(AppState::start(
            settings,
            clock,
            &key,
            pool,
            instance_lock,
            setup_code,
        )?);
        let app_state = state.clone();
        let sessions = DbSessionStore::new(
            state.pool.clone(),
            state.check_cache.clone(),
            state.settings.database_url.clone(),
            state.clock.clone(),
            state.settings.session_idle,
            state.settings.session_max,
        );
        let server = HttpServer::new(move || {
            // The API is its own scope: no session cookie or page headers on the hot path.
            App::new()
                .wrap(from_fn(log_request))
                .app_data(app_state.clone())
                .service(web::scope("/api/v1").configure(routes::api::configure))
                .service(
                    web::scope("")
                        .app_data(query_errors())
                        .wrap(
                            SessionMiddleware::builder(sessions.clone(), cookie_key.clone())
                                .cookie_name(SESSION_COOKIE.into())
                                .cookie_secure(https)
                                .cookie_http_only(true)
                                .cookie_same_site(SameSite::Lax)
                                .cookie_content_security(CookieContentSecurity::Private)
                                .build(),
                        )
                        .wrap(from_fn(store::answer_store_failures))
                        .wrap(security_headers(https))
                        .configure(routes::configure),
                )
        })
        // Blocking work is database work (and password hashing): more threads than pool
        // connections only wait for one, each with its own allocator cache (47 threads
        // under 16 connections held 60 MiB more).
        .workers(workers)
        .worker_max_blocking_threads(blocking_per_worker)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn setup_code(&self) -> Option<String> {
        self.state.setup_code.lock().ok().and_then(|c| c.clone())
    }

    /// The settings in force (the base URL names the bound port when asked for port 0).
    pub fn settings(&self) -> &Settings {
        &self.state.settings
    }

    pub fn pool(&self) -> DbPool {
        self.state.pool.clone()
    }

    /// The background worker, for tests that hold it to see what happens before it runs.
    pub fn direct_mail(&self) -> Arc<DirectMail> {
        self.state.direct_mail.clone()
    }

    /// The API check's cache, for tests that widen its race windows.
    pub fn check_cache(&self) -> Arc<CheckCache> {
        self.state.check_cache.clone()
    }

    pub fn notifier(&self) -> Arc<Notifier> {
        self.state.notifier.clone()
    }

    /// Serves until stopped (SIGTERM or SIGINT: in-flight requests finish first), then
    /// lets the scheduler finish the e-mail it is sending and the recorder its writes, so
    /// no thread of ours is inside the database client when the process exits.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.state.notifier.shutdown();
        self.state.recorder.shutdown();
        if let Some(lease) = &self.state.lease {
            lease.shutdown();
        }
        tracing::info!("stopped");
        served
    }
}

fn prepare_data_dir(settings: &Settings) -> anyhow::Result<()> {
    let dir = &settings.data_dir;
    if !dir.exists() {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create the data directory {} (SESAME_DATA_DIR)",
                dir.display()
            )
        })?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // It holds the database, the key and e-mails with live links: the owner's alone,
        // also when an older version or another tool made it looser.
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(
                || {
                    format!(
                        "cannot restrict the data directory {} to 0700",
                        dir.display()
                    )
                },
            )?;
            tracing::warn!(
                dir = %dir.display(),
                was = format!("{mode:o}"),
                "the data directory was readable by others: restricted it to 0700"
            );
        }
    }
    Ok(())
}

/// With no user yet, makes the one-time setup code and prints where to use it.
fn first_run_code(pool: &DbPool, settings: &Settings) -> anyhow::Result<Option<String>> {
    let mut conn = pool.get()?;
    if crate::db::users::any_exist(&mut conn)? {
        return Ok(None);
    }
    let code = crate::tokens::secret::generate_username()[4..].to_string();
    let url = settings.base_url.join("setup")?;
    tracing::warn!("first run: no user exists yet. Open {url} and enter the setup code {code}");
    Ok(Some(code))
}

fn security_headers(https: bool) -> DefaultHeaders {
    let headers = if https {
        // Browsers remember to use https only; never sent over plain http (it would be ignored).
        DefaultHeaders::new().add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        DefaultHeaders::new()
    };
    headers
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
}

/// A malformed or repeated query parameter answers the app's own 400 page, never the
/// framework's text.
fn query_errors() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|_, _| {
        AppError::BadRequest(
            "This address has a malformed or repeated parameter. Go back and try again.".into(),
        )
        .into()
    })
}

/// One line per request, naming the route pattern rather than the path, so that codes in
/// URLs (hand-off links) never reach the log.
async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // API calls are logged at debug level: at tens of thousands a second, a line each
    // would cost more than the call. Pages are logged at info. Every request is counted.
    let api = req.path().starts_with("/api/");
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    if api && !tracing::enabled!(tracing::Level::DEBUG) {
        let response = next.call(req).await?;
        if let Some(metrics) = metrics {
            // The API's routes are fixed paths: no pattern lookup needed.
            let path = response.request().path();
            let route = if matches!(path, "/api/v1/whoami" | "/api/v1/auth" | "/api/v1/leaks") {
                path
            } else {
                "(unmatched)"
            };
            metrics.request(route, response.status().as_u16());
        }
        return Ok(response);
    }
    let started = Instant::now();
    let method = req.method().clone();
    let mut response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".into());
    let status = response.status().as_u16();
    if let Some(metrics) = metrics {
        metrics.request(&route, status);
    }
    let micros = started.elapsed().as_micros() as u64;
    // The server's own time for the request, for browsers' developer tools and for tests
    // that compare costs without the client's noise.
    if let Ok(value) = format!("app;dur={:.3}", micros as f64 / 1000.0).parse() {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("server-timing"),
            value,
        );
    }
    if api {
        tracing::debug!(%method, route, status, micros, "request");
    } else {
        tracing::info!(%method, route, status, micros, "request");
    }
    Ok(response)
}
