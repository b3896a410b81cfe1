//! People's passwords: argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane).

use crate::error::AppError;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use std::sync::{mpsc, Arc, LazyLock, Mutex};
use tokio::sync::oneshot;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 1024;

pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// Verifies against the stored hash; with no user, against a dummy hash, so the answer
/// takes as long whether or not the e-mail address exists.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: LazyLock<String> = LazyLock::new(|| hash("dummy password for absent users"));
    // An invited user has no password yet (an empty hash): same work as anyone else.
    let (stored, real) = match stored.filter(|s| PasswordHash::new(s).is_ok()) {
        Some(stored) => (stored, true),
        None => (DUMMY.as_str(), false),
    };
    let matches = PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false);
    real && matches
}

/// Password hashing runs on threads of its own, one per core, taking work in arrival order
/// from one queue. A burst of sign-ins then waits here, holding no database connection
/// and none of the blocking threads that database work runs on, so pages and the API keep
/// their share of the machine.
static HASHERS: LazyLock<mpsc::Sender<Job>> = LazyLock::new(|| {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for n in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("sesame-hash-{n}"))
            .spawn(move || loop {
                // The lock is held only while waiting for the next job.
                let job = match queue.lock() {
                    Ok(queue) => queue.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            })
            .expect("a password hashing thread starts");
    }
    jobs
});

type Job = Box<dyn FnOnce() + Send>;

async fn queued<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    let (done, result) = oneshot::channel();
    HASHERS
        .send(Box::new(move || {
            let _ = done.send(work());
        }))
        .map_err(|_| AppError::internal("the password hashing threads have stopped"))?;
    result
        .await
        .map_err(|_| AppError::internal("a password hash was dropped"))
}

/// `verify`, in the hashing queue, off the async workers.
pub async fn verify_queued(password: String, stored: Option<String>) -> Result<bool, AppError> {
    queued(move || verify(&password, stored.as_deref())).await
}

/// `hash`, in the hashing queue, off the async workers.
pub async fn hash_queued(password: String) -> Result<String, AppError> {
    queued(move || hash(&password)).await
}

/// The rule for a new password, as a message for the form: long enough, and not guessable
/// (zxcvbn: common passwords, keyboard walks, dates, the user's own address...).
pub fn check_new(password: &str, user_inputs: &[&str]) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(format!("Use at least {MIN_CHARS} characters."));
    }
    if chars > MAX_CHARS {
        return Err(format!("Use at most {MAX_CHARS} characters."));
    }
    if password.chars().any(char::is_control) {
        return Err("The password cannot contain control characters.".into());
    }
    if zxcvbn::zxcvbn(password, user_inputs).score() < zxcvbn::Score::Two {
        return Err(
            "This password is too easy to guess (a common password, word or pattern). \
                    Try a few unrelated words."
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let stored = hash("correct horse battery");
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(&stored)));
        assert!(!verify("wrong horse battery", Some(&stored)));
        assert!(!verify("dummy password for absent users", None));
    }

    #[test]
    fn an_unknown_user_costs_as_much_as_a_wrong_password() {
        // Without the dummy hash an unknown address answers in microseconds, not the
        // milliseconds of argon2: the ratio, measured in the same run, tells them apart.
        let stored = hash("correct horse battery");
        let time = |stored: Option<&str>| {
            let started = std::time::Instant::now();
            for _ in 0..3 {
                assert!(!verify("a wrong password", stored));
            }
            started.elapsed()
        };
        let (known, unknown, invited) = (time(Some(&stored)), time(None), time(Some("")));
        assert!(
            invited * 3 > known,
            "invited {invited:?} vs known {known:?}"
        );
        assert!(
            unknown * 3 > known,
            "unknown {unknown:?} vs known {known:?}"
        );
    }

    #[test]
    fn new_passwords_need_twelve_characters() {
        assert!(check_new("short", &[]).is_err());
        assert!(check_new("correct horse battery staple", &[]).is_ok());
        assert!(check_new("correct horse\0battery staple", &[]).is_err());
    }

    #[test]
    fn common_and_personal_passwords_are_refused() {
        for weak in [
            "password1234",
            "qwertyuiop123",
            "123456789012",
            "aaaaaaaaaaaa",
        ] {
            assert!(check_new(weak, &[]).is_err(), "{weak}");
        }
        assert!(check_new("alice@acme.test1", &["alice@acme.test"]).is_err());
    }
}
