//! actix-session's `SessionStore` over the app's database (`db::sessions`). The cookie
//! carries only a random 256-bit key; the table holds its SHA-256, never the key, so a
//! copy of the database opens no session. Any process serves any session, and a session
//! survives a restart. The idle and absolute timeouts are enforced here.
//!
//! Each process keeps the values of the sessions it has seen (a CSRF token, a message), so
//! that a page needs no read before its own database task. Who the session belongs to is
//! never taken from this cache: `auth::guards::Claim` reads the session's row by its key
//! hash with the user in the page's own task (or, for the token pages on PostgreSQL, from
//! the check cache, which every end of a session empties in every process), so a session
//! ended anywhere is refused at its next request in every process.

use super::session::keys;
use crate::clock::SharedClock;
use crate::config::DatabaseUrl;
use crate::db::token_writes;
use crate::db::{self, sessions, DbError, DbPool};
use crate::domain::UserId;
use crate::tokens::check_cache::CheckCache;
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::body::MessageBody;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDateTime};
use rand::RngCore;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A session's values as actix-session holds them: each one JSON.
type State = HashMap<String, String>;

/// Last seen is written at most this often, not on every request.
const SEEN_EVERY_SECONDS: i64 = 60;
/// Sessions whose values a process keeps; past this, it forgets them all and reads again.
const CACHED_SESSIONS: usize = 10_000;

/// A session's row as this process last read or wrote it.
#[derive(Clone)]
struct Cached {
    id: String,
    state: String,
    created_at: NaiveDateTime,
    seen_at: NaiveDateTime,
    expires_at: NaiveDateTime,
}

type Cache = Arc<Mutex<HashMap<Vec<u8>, Cached>>>;

#[derive(Clone)]
pub struct DbSessionStore {
    pool: DbPool,
    cache: Cache,
    /// Emptied when a session ends or changes key: it may hold the session's claim.
    claims: Arc<CheckCache>,
    /// Which backend: SQLite reads on the async worker (`db::read`).
    url: DatabaseUrl,
    clock: SharedClock,
    idle: Duration,
    max: Duration,
}

impl DbSessionStore {
    pub fn new(
        pool: DbPool,
        claims: Arc<CheckCache>,
        url: DatabaseUrl,
        clock: SharedClock,
        idle: Duration,
        max: Duration,
    ) -> Self {
        Self {
            pool,
            cache: Cache::default(),
            claims,
            url,
            clock,
            idle,
            max,
        }
    }

    /// When a session signed in at `created_at` and seen at `seen_at` ends.
    fn expiry(&self, created_at: NaiveDateTime, seen_at: NaiveDateTime) -> NaiveDateTime {
        (seen_at + self.idle).min(created_at + self.max)
    }

    fn cached(&self, key_hash: &[u8]) -> Option<Cached> {
        self.cache.lock().ok()?.get(key_hash).cloned()
    }

    fn remember(&self, key_hash: Vec<u8>, row: Cached) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHED_SESSIONS {
                cache.clear();
            }
            cache.insert(key_hash, row);
        }
    }

    fn forget(&self, key_hash: &[u8]) -> Option<Cached> {
        self.cache.lock().ok()?.remove(key_hash)
    }

    /// The session's row: this process's copy, or the database's.
    async fn row(&self, key_hash: &[u8]) -> Result<Option<Cached>, DbError> {
        if let Some(row) = self.cached(key_hash) {
            return Ok(Some(row));
        }
        let wanted = key_hash.to_vec();
        let found = db::read(&self.pool, &self.url, move |conn| {
            Ok::<_, DbError>(sessions::find(conn, &wanted)?)
        })
        .await?;
        Ok(found.map(|row| {
            let row = Cached {
                id: row.id,
                state: row.state,
                created_at: row.created_at,
                seen_at: row.seen_at,
                expires_at: row.expires_at,
            };
            self.remember(key_hash.to_vec(), row.clone());
            row
        }))
    }
}

/// A new random key (256 bits) and the hash the table keeps of it.
fn new_key() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&key);
    (key, hash)
}

fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

fn value<T: DeserializeOwned>(state: &State, key: &str) -> Option<T> {
    serde_json::from_str(state.get(key)?).ok()
}

/// The values as stored: without the ones the row itself holds or this store acts on.
fn stored(mut state: State) -> Result<String, serde_json::Error> {
    state.remove(keys::SESSION_ID);
    state.remove(keys::KEY_HASH);
    state.remove(keys::ROTATE);
    serde_json::to_string(&state)
}

fn to_session_key(key: String) -> Result<SessionKey, anyhow::Error> {
    SessionKey::try_from(key).map_err(anyhow::Error::new)
}

impl SessionStore for DbSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<State>, LoadError> {
        let key_hash = hash(session_key.as_ref());
        let Some(mut row) = self
            .row(&key_hash)
            .await
            .map_err(|e| LoadError::Other(e.into()))?
        else {
            return Ok(None);
        };
        let now = self.clock.now();
        // The stored expiry, and today's settings (they may have been shortened since).
        if now >= row.expires_at || now >= self.expiry(row.created_at, row.seen_at) {
            self.forget(&key_hash);
            return Ok(None); // the scheduler deletes the row
        }
        if (now - row.seen_at).num_seconds() >= SEEN_EVERY_SECONDS {
            let (id, expires_at) = (row.id.clone(), self.expiry(row.created_at, now));
            db::run(&self.pool, move |conn| {
                Ok::<_, DbError>(sessions::touch(conn, &id, now, expires_at)?)
            })
            .await
            .map_err(|e| LoadError::Other(e.into()))?;
            (row.seen_at, row.expires_at) = (now, expires_at);
            self.remember(key_hash.clone(), row.clone());
        }
        let mut state: State =
            serde_json::from_str(&row.state).map_err(|e| LoadError::Deserialization(e.into()))?;
        let json = |text: &str| serde_json::to_string(text).map_err(|e| LoadError::Other(e.into()));
        state.insert(keys::SESSION_ID.into(), json(&row.id)?);
        state.insert(keys::KEY_HASH.into(), json(&hex::encode(&key_hash))?);
        Ok(Some(state))
    }

    /// A new session: a visitor's first value, or a sign-in (whose values name the user,
    /// when they signed in, and from where).
    async fn save(&self, state: State, _: &CookieDuration) -> Result<SessionKey, SaveError> {
        let (key, key_hash) = new_key();
        let now = self.clock.now();
        let user_id = value::<String>(&state, keys::USER_ID).map(UserId::from);
        let created_at = value::<i64>(&state, keys::SIGNED_IN_AT)
            .and_then(|at| DateTime::from_timestamp(at, 0))
            .map_or(now, |at| at.naive_utc());
        let ip = value::<String>(&state, keys::IP);
        let browser = value::<String>(&state, keys::BROWSER).unwrap_or_default();
        let os = value::<String>(&state, keys::OS).unwrap_or_default();
        let expires_at = self.expiry(created_at, now);
        let json = stored(state).map_err(|e| SaveError::Serialization(e.into()))?;
        let row = Cached {
            id: db::new_id(),
            state: json.clone(),
            created_at,
            seen_at: now,
            expires_at,
        };
        let (id, wanted) = (row.id.clone(), key_hash.clone());
        db::run(&self.pool, move |conn| {
            let new = sessions::NewSession {
                id: &id,
                key_hash: &wanted,
                user_id: user_id.as_ref(),
                state: &json,
                created_at,
                seen_at: now,
                expires_at,
                ip: ip.as_deref(),
                browser: &browser,
                os: &os,
            };
            Ok::<_, DbError>(sessions::insert(conn, &new)?)
        })
        .await
        .map_err(|e| SaveError::Other(e.into()))?;
        self.remember(key_hash, row);
        to_session_key(key).map_err(SaveError::Other)
    }

    /// New values; with `keys::ROTATE` among them (sudo confirmed), a new key too, in the
    /// same statement, so an ended session never comes back.
    async fn update(
        &self,
        session_key: SessionKey,
        state: State,
        _: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let old_hash = hash(session_key.as_ref());
        let (key, new_hash) = if state.contains_key(keys::ROTATE) {
            new_key()
        } else {
            (session_key.into(), old_hash.clone())
        };
        let json = stored(state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let (old, new, values) = (old_hash.clone(), new_hash.clone(), json.clone());
        let claims = self.claims.clone();
        let updated = db::run(&self.pool, move |conn| {
            if old == new {
                return Ok::<_, DbError>(sessions::update(conn, &old, &values)?);
            }
            token_writes::write(conn, Some(&*claims), |conn| {
                Ok(sessions::rotate(conn, &old, &new, &values)?)
            })
        })
        .await
        .map_err(|e| UpdateError::Other(e.into()))?;
        // Ended meanwhile: the key opens nothing, and the next request starts afresh.
        let row = self.forget(&old_hash);
        if let (true, Some(row)) = (updated, row) {
            self.remember(new_hash, Cached { state: json, ..row });
        }
        to_session_key(key).map_err(UpdateError::Other)
    }

    /// Lifetimes are this store's own (see `load`); the cookie's is not used.
    async fn update_ttl(&self, _: &SessionKey, _: &CookieDuration) -> Result<(), anyhow::Error> {
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        let key_hash = hash(session_key.as_ref());
        let (wanted, claims) = (key_hash.clone(), self.claims.clone());
        db::run(&self.pool, move |conn| {
            token_writes::write(conn, Some(&*claims), |conn| {
                Ok::<_, DbError>(sessions::delete_by_key(conn, &wanted)?)
            })
        })
        .await
        .map_err(anyhow::Error::new)?;
        self.forget(&key_hash);
        Ok(())
    }
}

/// actix-session answers any failure of its store with a bare 500. Every failure of this
/// store is the database's, so it is answered as every other page answers one: 503 with
/// `Retry-After` (the cause goes to the log).
pub async fn answer_store_failures(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    next.call(req).await.map_err(|error| {
        if !is_store_failure(&error) {
            return error;
        }
        tracing::error!(cause = ?error, "session store failed");
        crate::error::AppError::Unavailable.into()
    })
}

fn is_store_failure(error: &actix_web::Error) -> bool {
    use actix_web::error::InternalError;
    error.as_error::<InternalError<LoadError>>().is_some()
        || error.as_error::<InternalError<SaveError>>().is_some()
        || error.as_error::<InternalError<UpdateError>>().is_some()
        || error.as_error::<InternalError<anyhow::Error>>().is_some()
}
