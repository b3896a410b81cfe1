//! The command line: `sesame [serve]`, `sesame migrate`, `sesame user add`, `sesame scan`,
//! `sesame digest --once`, …

use crate::auth::password;
use crate::clock::{Clock, SystemClock};
use crate::config::{LogFormat, Settings};
use crate::db::token_writes::{self, TokenWatcher};
use crate::db::{self, accounts, users};
use crate::domain::{AccountId, EmailAddress, UserId};
use crate::error::AppError;
use crate::routes::setup::check_account_name;
use crate::startup::Application;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "sesame",
    version,
    about = "Sesame Tokens: create, hand out, monitor and revoke API tokens"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the web server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Fill an account with N synthetic tokens (a mix of active, expiring, expired and
    /// revoked) for benchmarks and demos.
    Seed {
        #[arg(long)]
        account: String,
        #[arg(long)]
        tokens: usize,
        /// Also this many audit events (about the account's tokens, over 90 days).
        #[arg(long, default_value_t = 0)]
        events: usize,
        /// Also this many sent notices in the account's outbox (nothing is e-mailed).
        #[arg(long, default_value_t = 0)]
        notices: usize,
        /// Also this many members (nobody knows their passwords).
        #[arg(long, default_value_t = 0)]
        users: usize,
        /// Also this many days of usage counts (ending today) for every token of the account.
        #[arg(long, default_value_t = 0)]
        usage_days: usize,
    },
    /// Queue due expiry reminders and deliver the e-mail outbox (for cron; the server
    /// also does this every SESAME_NOTIFY_INTERVAL_SECS).
    Notify {
        /// Run one pass and exit.
        #[arg(long)]
        once: bool,
    },
    /// Queue the weekly token report for every account now, then deliver the outbox (for
    /// cron; the server also queues it on the first tick of each week).
    Digest {
        /// Run one pass and exit.
        #[arg(long)]
        once: bool,
    },
    /// Write an online, consistent copy of the SQLite database to PATH (PostgreSQL: use
    /// pg_dump).
    Backup { path: std::path::PathBuf },
    /// Re-encrypt every stored token secret under a new server key, in one transaction.
    /// With the key file: makes a new key (the old one stays as secret.key.previous).
    /// With SESAME_SECRET_KEY: set it to the new key and SESAME_PREVIOUS_SECRET_KEY to the old.
    RotateKey,
    /// Manage people.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage sign-in sessions.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Find token passwords in files (prefix and checksum), for pre-commit hooks and CI.
    /// Skips .git and binary files; prints path:line with the secret masked. Exits 1 when
    /// it finds any, 0 when the tree is clean, 2 when a path cannot be read or --revoke
    /// cannot run.
    Scan {
        #[arg(required = true)]
        paths: Vec<std::path::PathBuf>,
        /// Also revoke the live ones, as a leak report would (uses the server's settings:
        /// its database and key; on SQLite the server must be stopped).
        #[arg(long)]
        revoke: bool,
    },
}

#[derive(Subcommand)]
pub enum SessionsCommand {
    /// End every session of every user at once (after a suspected leak, say): each browser
    /// lands on the sign-in page at its next click, in every server process.
    EndAll,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user, reading the password from the first line of stdin. Creates the
    /// account if it does not exist.
    Add {
        #[arg(long)]
        account: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["admin", "support", "member"])]
        role: String,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env()?;
    init_tracing(settings.log_format);
    let done = match cli.command.unwrap_or(Command::Serve) {
        Command::Scan { paths, revoke } => return scan(&settings, &paths, revoke),
        Command::Serve => serve(settings),
        Command::Migrate => {
            std::fs::create_dir_all(&settings.data_dir).ok();
            db::open(&settings.database_url)?;
            println!("migrations applied");
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    account,
                    email,
                    role,
                },
        } => add_user(&settings, &account, &email, &role),
        Command::Seed {
            account,
            tokens,
            events,
            notices,
            users,
            usage_days,
        } => seed(
            &settings,
            &account,
            &crate::seed::Plan {
                tokens,
                events,
                notices,
                users,
                usage_days,
            },
        ),
        Command::Notify { once } => notify(settings, once),
        Command::Digest { once } => digest(settings, once),
        Command::Backup { path } => backup(&settings, &path),
        Command::RotateKey => rotate_key(&settings),
        Command::Sessions {
            command: SessionsCommand::EndAll,
        } => end_all_sessions(&settings),
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// `sesame scan`: 1 when it found a password, 2 when a path could not be read or `--revoke`
/// failed, else 0.
fn scan(
    settings: &Settings,
    paths: &[std::path::PathBuf],
    revoke: bool,
) -> anyhow::Result<ExitCode> {
    let found = crate::scan::scan(paths);
    for (path, error) in &found.unreadable {
        eprintln!("sesame scan: {}: {error}", path.display());
    }
    let mut failed = false;
    let outcomes = if revoke && !found.findings.is_empty() {
        revoke_found(settings, &found.findings)
            .inspect_err(|error| {
                eprintln!("sesame scan: --revoke: {error:#}");
                failed = true;
            })
            .ok()
    } else {
        None
    };
    for (index, finding) in found.findings.iter().enumerate() {
        match outcomes.as_ref().map(|o| o[index]) {
            None => println!("{}", finding.describe()),
            Some(outcome) => println!("{} [{outcome}]", finding.describe()),
        }
    }
    let code = if failed {
        2
    } else if !found.findings.is_empty() {
        1
    } else if !found.unreadable.is_empty() {
        2
    } else {
        0
    };
    Ok(ExitCode::from(code))
}

/// What `--revoke` did with each finding, through the leak reports' own rules.
fn revoke_found(
    settings: &Settings,
    findings: &[crate::scan::Finding],
) -> anyhow::Result<Vec<&'static str>> {
    use crate::services::leaks::{Leaks, Reported, Verdict};
    // SQLite: a running server caches token checks and would not hear of the revocation.
    let _lock = db::instance_lock::acquire(&settings.database_url).map_err(|_| {
        anyhow::anyhow!(
            "the server is running on this SQLite database and would not see the revocation: \
             stop it first, or report the passwords to it (POST {}api/v1/leaks)",
            settings.base_url
        )
    })?;
    let key = crate::keys::ServerKey::load_or_generate(settings)?;
    let crypto = crate::tokens::secret::TokenCrypto::new(&key)
        .with_previous(crate::keys::ServerKey::load_previous(settings)?.as_ref());
    let mut conn = db::open(&settings.database_url)?;
    let reports: Vec<Reported> = findings
        .iter()
        .map(|f| Reported {
            token: f.password.clone(),
            url: format!("{}:{}", f.path.display(), f.line),
            source: "sesame scan".into(),
        })
        .collect();
    let leaks = Leaks {
        crypto: &crypto,
        base_url: &settings.base_url,
        reporter: Some("sesame scan"),
        now: SystemClock.now(),
    };
    // On PostgreSQL every running server empties its cache before each revocation returns.
    let caches = server_caches(settings);
    let verdicts = leaks.judge(&mut conn, caches.as_ref(), &reports)?;
    Ok(verdicts
        .iter()
        .map(|verdict| match verdict {
            Verdict::Revoked => "revoked now",
            Verdict::AlreadyEnded => "already expired or revoked",
            Verdict::NotOurs => "not a token of this server",
        })
        .collect())
}

/// What the command line's writes must announce to running servers: on PostgreSQL they
/// cache sessions' claims and tokens (`tokens::check_cache`), and wait for every one of
/// them to let go. On SQLite, servers read sessions afresh; tokens see `rotate_key`.
fn server_caches(settings: &Settings) -> Option<crate::tokens::check_cache::CheckCache> {
    matches!(
        settings.database_url,
        crate::config::DatabaseUrl::Postgres(_)
    )
    .then(crate::tokens::check_cache::CheckCache::leased)
}

fn end_all_sessions(settings: &Settings) -> anyhow::Result<()> {
    let mut conn = db::open(&settings.database_url)?;
    let caches = server_caches(settings);
    let ended = token_writes::write(&mut conn, caches.as_ref(), db::sessions::end_everyone)?;
    tracing::warn!(ended, "every session ended from the command line");
    println!("sessions ended: {ended}");
    Ok(())
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SESAME_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings.clone(), Arc::new(SystemClock))?;
        tracing::info!(bind = %settings.bind, base_url = %settings.base_url, "Sesame Tokens is listening");
        app.run_until_stopped().await?;
        Ok(())
    })
}

fn rotate_key(settings: &Settings) -> anyhow::Result<()> {
    use crate::keys::ServerKey;
    use crate::tokens::secret::TokenCrypto;
    std::fs::create_dir_all(&settings.data_dir).ok();
    // On SQLite, the server must be stopped: it would keep using the old key until restarted.
    let _lock = db::instance_lock::acquire(&settings.database_url)
        .map_err(|_| anyhow::anyhow!("stop the server first: it is using the database"))?;
    let mut conn = db::open(&settings.database_url)?;
    let (new, old) = if settings.secret_key.is_some() {
        let old = ServerKey::load_previous(settings)?.context(
            "set SESAME_SECRET_KEY to the new key and SESAME_PREVIOUS_SECRET_KEY to the old one, then run this again",
        )?;
        (ServerKey::load_or_generate(settings)?, old)
    } else {
        // The new key file is written first, the old one kept: if anything below fails,
        // the servers still read every secret with one key or the other.
        ServerKey::rotate_files(settings)?
    };
    let readable = TokenCrypto::new(&new).with_previous(Some(&old));
    let target = TokenCrypto::new(&new);
    // No server runs (SQLite) or none caches checks (PostgreSQL): no cache to empty.
    let rekeyed = token_writes::write(&mut conn, None::<&dyn TokenWatcher>, |conn| {
        let (mut count, mut after) = (0usize, String::new());
        loop {
            let batch = crate::db::tokens::secrets_after(conn, &after, 1000)?;
            let Some((last, _)) = batch.last() else { break };
            after = last.to_string();
            for (id, stored) in &batch {
                let password = readable.decrypt(id.as_str(), stored).map_err(|_| {
                    anyhow::anyhow!(
                        "token {id} cannot be read with either key (is SESAME_PREVIOUS_SECRET_KEY the key it was written under?)"
                    )
                })?;
                crate::db::tokens::set_secret(
                    conn,
                    id,
                    &target.hash(password.expose()),
                    &target.encrypt(id.as_str(), &password),
                )?;
                count += 1;
            }
        }
        Ok::<_, anyhow::Error>(count)
    })
    .context("nothing was changed in the database")?;
    println!("re-encrypted {rekeyed} token secrets under the new key");
    if settings.secret_key.is_some() {
        println!("next: restart every server, then remove SESAME_PREVIOUS_SECRET_KEY");
    } else {
        println!(
            "next: restart the server (signed-in users sign in again), back up the new {}, then delete {}",
            crate::keys::KEY_FILE,
            crate::keys::PREVIOUS_KEY_FILE
        );
    }
    Ok(())
}

fn backup(settings: &Settings, path: &std::path::Path) -> anyhow::Result<()> {
    db::backup(&settings.database_url, path)?;
    println!("backed up to {}", path.display());
    Ok(())
}

fn notify(settings: Settings, once: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        once,
        "only `sesame notify --once` exists: `sesame serve` runs the scheduler itself"
    );
    let report = one_pass_notifier(&settings)?
        .tick()
        .map_err(AppError::into_anyhow)?;
    println!(
        "reminders queued: {}, sent: {}, retrying: {}, failed: {}, weekly reports queued: {}",
        report.reminders_queued,
        report.sent,
        report.retrying,
        report.failed,
        report.weekly_reports_queued
    );
    Ok(())
}

fn digest(settings: Settings, once: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        once,
        "only `sesame digest --once` exists: `sesame serve` queues the weekly report itself"
    );
    let report = one_pass_notifier(&settings)?
        .digest()
        .map_err(AppError::into_anyhow)?;
    println!(
        "weekly reports queued: {}, sent: {}, retrying: {}, failed: {}",
        report.weekly_reports_queued, report.sent, report.retrying, report.failed
    );
    Ok(())
}

/// A scheduler for one pass from the command line, on the server's settings.
fn one_pass_notifier(settings: &Settings) -> anyhow::Result<crate::notify::scheduler::Notifier> {
    std::fs::create_dir_all(&settings.data_dir).ok();
    let pool = db::connect(&settings.database_url)?;
    let mailer = crate::notify::mailer::Mailer::from_settings(settings)?;
    Ok(crate::notify::scheduler::Notifier::new(
        pool,
        mailer,
        Arc::new(SystemClock),
        settings.base_url.clone(),
    )
    .with_weekly_report(settings.weekly_report_day))
}

fn seed(settings: &Settings, account: &str, plan: &crate::seed::Plan) -> anyhow::Result<()> {
    check_account_name(account.trim()).map_err(|m| anyhow::anyhow!("--account: {m}"))?;
    std::fs::create_dir_all(&settings.data_dir).ok();
    let key = crate::keys::ServerKey::load_or_generate(settings)?;
    let crypto = crate::tokens::secret::TokenCrypto::new(&key);
    let mut conn = db::open(&settings.database_url)?;
    let started = std::time::Instant::now();
    crate::seed::run(&mut conn, &crypto, account.trim(), plan, SystemClock.now())?;
    // Running servers' pages then read the account's new version (its tokens) afresh.
    if let Some(caches) = server_caches(settings) {
        token_writes::announce(&mut conn, &caches)?;
    }
    println!(
        "seeded {} tokens, {} audit events, {} notices, {} users and {} days of usage into account {} in {:.1} s",
        plan.tokens,
        plan.events,
        plan.notices,
        plan.users,
        plan.usage_days,
        account.trim(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn add_user(settings: &Settings, account: &str, email: &str, role: &str) -> anyhow::Result<()> {
    let role = users::Role::parse(role).context("the role must be admin, support or member")?;
    let account = account.trim();
    check_account_name(account).map_err(|m| anyhow::anyhow!("--account: {m}"))?;
    let email = EmailAddress::parse(email).map_err(|m| anyhow::anyhow!("--email: {m}"))?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let new_password = line.trim_end_matches(['\r', '\n']);
    password::check_new(new_password, &[email.as_str()])
        .map_err(|m| anyhow::anyhow!("password (stdin): {m}"))?;
    let password_hash = password::hash(new_password);

    std::fs::create_dir_all(&settings.data_dir).ok();
    let mut conn = db::open(&settings.database_url)?;
    let now = SystemClock.now();
    let created_account = db::transaction(&mut conn, |conn| {
        let (account_id, created) = match accounts::find_by_name(conn, account)? {
            Some(existing) => (existing.id, false),
            None => {
                let id = AccountId::generate();
                accounts::insert(conn, &id, account, now)?;
                (id, true)
            }
        };
        if users::email_exists(conn, &email)? {
            return Err(AppError::Conflict(format!(
                "a user with the e-mail {email} already exists"
            )));
        }
        let id = UserId::generate();
        users::insert(
            conn,
            &users::NewUser {
                id: &id,
                account_id: &account_id,
                email: &email,
                password_hash: &password_hash,
                role,
            },
            now,
        )?;
        Ok(created)
    })
    .map_err(AppError::into_anyhow)?;
    if created_account {
        println!("created account {account}");
    }
    println!("created {} {email} in account {account}", role.as_str());
    Ok(())
}
