//! The e-mail outbox: notices queued with what causes them, claimed one by one by the
//! scheduler (a conditional UPDATE, so two schedulers never send the same row).

use super::accounts::{self, Numbered};
use super::schema::{api_tokens, outbox};
use super::DbConn;
use crate::domain::{AccountId, TokenId, UserId};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

pub const PENDING: &str = "pending";
pub const SENDING: &str = "sending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";

/// How long a notice is retried before it is marked failed.
pub const RETRY_WINDOW_HOURS: i64 = 24;

pub struct NewNotice<'a> {
    pub account_id: Option<&'a AccountId>,
    pub kind: &'a str,
    pub token_id: Option<&'a TokenId>,
    pub period: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: &'a str,
}

/// Queues a notice unless the same one (kind, token, recipient, period) already was.
/// Runs in a savepoint, so a duplicate leaves the caller's transaction intact and gives
/// back the account's number it took (see `accounts::next_number`).
pub fn enqueue(conn: &mut DbConn, notice: &NewNotice<'_>, now: NaiveDateTime) -> QueryResult<bool> {
    let inserted = conn.transaction(|conn| {
        let seq = match notice.account_id {
            Some(account_id) => Some(accounts::next_number(conn, account_id, Numbered::Notices)?),
            None => None,
        };
        insert_numbered(conn, notice, seq, now)
    });
    match inserted {
        Ok(()) => Ok(true),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Inserts a notice with the account's number `seq`, which the caller took in its
/// transaction (`accounts::take_numbers`).
pub fn insert_numbered(
    conn: &mut DbConn,
    notice: &NewNotice<'_>,
    seq: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(super::new_id()),
            outbox::account_id.eq(notice.account_id.map(AccountId::as_str)),
            outbox::kind.eq(notice.kind),
            outbox::token_id.eq(notice.token_id.map(TokenId::as_str)),
            outbox::period.eq(notice.period),
            outbox::recipient.eq(notice.recipient),
            outbox::subject.eq(notice.subject),
            outbox::body_text.eq(notice.body_text),
            outbox::body_html.eq(notice.body_html),
            outbox::status.eq(PENDING),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(now),
            outbox::give_up_at.eq(now + Duration::hours(RETRY_WINDOW_HOURS)),
            outbox::created_at.eq(now),
            outbox::seq.eq(seq),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Notices due now: pending ones whose time has come, and claims that lapsed.
pub fn due(conn: &mut DbConn, now: NaiveDateTime, limit: i64) -> QueryResult<Vec<String>> {
    outbox::table
        .filter(outbox::status.eq_any([PENDING, SENDING]))
        .filter(outbox::next_attempt_at.le(now))
        .order(outbox::next_attempt_at.asc())
        .limit(limit)
        .select(outbox::id)
        .load(conn)
}

/// Claims a due notice for sending until `lease_until`; false if another sender has it.
pub fn claim(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> QueryResult<bool> {
    let claimed = diesel::update(
        outbox::table
            .find(id)
            .filter(outbox::status.eq_any([PENDING, SENDING]))
            .filter(outbox::next_attempt_at.le(now)),
    )
    .set((
        outbox::status.eq(SENDING),
        outbox::next_attempt_at.eq(lease_until),
        outbox::attempts.eq(outbox::attempts + 1),
    ))
    .execute(conn)?;
    Ok(claimed == 1)
}

#[derive(Debug, Queryable)]
pub struct Claimed {
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub attempts: i32,
    pub give_up_at: NaiveDateTime,
}

pub fn load(conn: &mut DbConn, id: &str) -> QueryResult<Claimed> {
    outbox::table
        .find(id)
        .select((
            outbox::recipient,
            outbox::subject,
            outbox::body_text,
            outbox::body_html,
            outbox::attempts,
            outbox::give_up_at,
        ))
        .first(conn)
}

pub fn mark_sent(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::status.eq(SENT),
            outbox::sent_at.eq(now),
            outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Records a failed attempt: tried again at `retry_at`, or given up when that is `None`.
pub fn mark_attempt_failed(
    conn: &mut DbConn,
    id: &str,
    error: &str,
    retry_at: Option<NaiveDateTime>,
) -> QueryResult<()> {
    let error: String = error.chars().take(500).collect();
    match retry_at {
        Some(at) => diesel::update(outbox::table.find(id))
            .set((
                outbox::status.eq(PENDING),
                outbox::next_attempt_at.eq(at),
                outbox::last_error.eq(error),
            ))
            .execute(conn),
        None => diesel::update(outbox::table.find(id))
            .set((outbox::status.eq(FAILED), outbox::last_error.eq(error)))
            .execute(conn),
    }
    .map(|_| ())
}

/// A failed notice of the account, due again now and retried for another day.
pub fn retry(
    conn: &mut DbConn,
    account_id: &AccountId,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let changed = diesel::update(
        outbox::table
            .find(id)
            .filter(outbox::account_id.eq(account_id))
            .filter(outbox::status.eq(FAILED)),
    )
    .set((
        outbox::status.eq(PENDING),
        outbox::next_attempt_at.eq(now),
        outbox::give_up_at.eq(now + Duration::hours(RETRY_WINDOW_HOURS)),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

#[derive(Debug, Queryable)]
pub struct NoticeRow {
    pub id: String,
    pub kind: String,
    pub token_id: Option<String>,
    pub recipient: String,
    pub subject: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

/// Up to `limit` of the account's notices numbered `newest` and below, newest first (see
/// `audit::list`).
pub fn list(
    conn: &mut DbConn,
    account_id: &AccountId,
    newest: i64,
    limit: i64,
) -> QueryResult<Vec<NoticeRow>> {
    outbox::table
        .filter(outbox::account_id.eq(account_id))
        .filter(outbox::seq.le(newest))
        .order(outbox::seq.desc())
        .limit(limit)
        .select((
            outbox::id,
            outbox::kind,
            outbox::token_id,
            outbox::recipient,
            outbox::subject,
            outbox::status,
            outbox::attempts,
            outbox::last_error,
            outbox::created_at,
            outbox::sent_at,
        ))
        .load(conn)
}

/// An active token within the reminder window with no reminder yet.
#[derive(Debug, Queryable)]
pub struct ReminderDue {
    #[diesel(deserialize_as = String)]
    pub token_id: TokenId,
    #[diesel(deserialize_as = String)]
    pub account_id: AccountId,
    pub name: String,
    pub expires_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub last_used_ip: Option<String>,
    #[diesel(deserialize_as = String)]
    pub created_by: UserId,
}

/// The next batch, in (expiry, id) order after `after`, of active tokens expiring in
/// `(now, until]` with no expiry reminder queued. It walks the expiry index (no join that
/// could tempt the planner into a table scan), so work and memory are bounded by the
/// window and `limit`, not by the table.
pub fn reminders_due(
    conn: &mut DbConn,
    now: NaiveDateTime,
    until: NaiveDateTime,
    after: Option<(NaiveDateTime, &str)>,
    limit: i64,
) -> QueryResult<Vec<ReminderDue>> {
    let (after_expiry, after_id) = after.unwrap_or((now, ""));
    // Only tokens whose reminder is not queued yet (`api_tokens_reminder_due`); the outbox's
    // uniqueness still makes a reminder once if two schedulers race.
    api_tokens::table
        .filter(diesel::dsl::not(api_tokens::expiry_reminder_queued))
        .filter(api_tokens::expires_at.gt(now))
        .filter(api_tokens::expires_at.le(until))
        // Keyset: a range on the index, then the tie on equal expiry.
        .filter(api_tokens::expires_at.ge(after_expiry))
        .filter(
            api_tokens::expires_at
                .gt(after_expiry)
                .or(api_tokens::id.gt(after_id)),
        )
        .filter(api_tokens::revoked_at.is_null())
        .order((api_tokens::expires_at.asc(), api_tokens::id.asc()))
        .limit(limit)
        .select((
            api_tokens::id,
            api_tokens::account_id,
            api_tokens::name,
            api_tokens::expires_at,
            api_tokens::last_used_at,
            api_tokens::last_used_ip,
            api_tokens::created_by,
        ))
        .load(conn)
}

/// How many notices are in each status (for /metrics).
pub fn depth(conn: &mut DbConn) -> QueryResult<Vec<(String, i64)>> {
    outbox::table
        .group_by(outbox::status)
        .select((outbox::status, diesel::dsl::count_star()))
        .load(conn)
}

/// Whether a notice of this kind about this token was queued after `since` (for alerts
/// sent at most once per rolling hour).
pub fn queued_since(
    conn: &mut DbConn,
    kind: &str,
    token_id: &TokenId,
    since: NaiveDateTime,
) -> QueryResult<bool> {
    let recent: Vec<String> = outbox::table
        .filter(outbox::kind.eq(kind))
        .filter(outbox::token_id.eq(token_id))
        .filter(outbox::created_at.gt(since))
        .select(outbox::id)
        .limit(1)
        .load(conn)?;
    Ok(!recent.is_empty())
}

/// Marks these tokens' expiry reminders as queued (in the transaction that queues them).
pub fn mark_reminders_queued(conn: &mut DbConn, token_ids: &[&TokenId]) -> QueryResult<()> {
    let ids: Vec<&str> = token_ids.iter().map(|id| id.as_str()).collect();
    diesel::update(api_tokens::table.filter(api_tokens::id.eq_any(ids)))
        .set(api_tokens::expiry_reminder_queued.eq(true))
        .execute(conn)
        .map(|_| ())
}

/// Those of `token_ids` whose expiry reminder is not queued yet.
pub fn reminders_not_queued(conn: &mut DbConn, token_ids: &[&TokenId]) -> QueryResult<Vec<String>> {
    let ids: Vec<&str> = token_ids.iter().map(|id| id.as_str()).collect();
    api_tokens::table
        .filter(api_tokens::id.eq_any(ids))
        .filter(diesel::dsl::not(api_tokens::expiry_reminder_queued))
        .select(api_tokens::id)
        .load(conn)
}
