//! API tokens and their allowed networks. Every query of an account's tokens takes the
//! account id; the API check finds a token by its username alone, and a page's rows are
//! read by id and then checked against the account (`rows_in_order`).

use super::schema::{api_tokens, token_networks, users};
use super::token_writes::TokenWrites;
use super::{lower, DbConn};
use crate::domain::{AccountId, TokenId, TokenStatus, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

diesel::alias!(users as revokers: RevokersAlias);

/// A token as the pages show it: with its creator's and revoker's e-mail, never its secret.
#[derive(Debug, Clone, Queryable)]
pub struct TokenRow {
    #[diesel(deserialize_as = String)]
    pub id: TokenId,
    #[diesel(deserialize_as = String)]
    pub account_id: AccountId,
    pub name: String,
    pub description: String,
    pub username: String,
    #[diesel(deserialize_as = String)]
    pub created_by: UserId,
    pub created_by_email: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_by_email: Option<String>,
    pub revoke_reason: Option<String>,
    pub last_used_at: Option<NaiveDateTime>,
    pub last_used_ip: Option<String>,
}

impl TokenRow {
    pub fn status(&self, now: NaiveDateTime) -> TokenStatus {
        TokenStatus::of(self.expires_at, self.revoked_at, now)
    }

    pub fn is_active(&self, now: NaiveDateTime) -> bool {
        self.status(now).is_active()
    }
}

/// The tokens joined with the people they name.
macro_rules! tokens_and_people {
    () => {
        api_tokens::table
            .inner_join(users::table.on(users::id.eq(api_tokens::created_by)))
            .left_join(
                revokers.on(revokers
                    .field(users::id)
                    .nullable()
                    .eq(api_tokens::revoked_by)),
            )
    };
}

/// The columns of a `TokenRow`.
macro_rules! token_columns {
    () => {
        (
            api_tokens::id,
            api_tokens::account_id,
            api_tokens::name,
            api_tokens::description,
            api_tokens::username,
            api_tokens::created_by,
            users::email,
            api_tokens::created_at,
            api_tokens::expires_at,
            api_tokens::revoked_at,
            revokers.field(users::email).nullable(),
            api_tokens::revoke_reason,
            api_tokens::last_used_at,
            api_tokens::last_used_ip,
        )
    };
}

/// `TokenRow`s.
macro_rules! token_rows {
    () => {
        tokens_and_people!().select(token_columns!())
    };
}

/// `TokenRow`s, each with one of its allowed networks (position and network), or none.
macro_rules! token_rows_with_networks {
    () => {
        tokens_and_people!()
            .left_join(token_networks::table.on(token_networks::token_id.eq(api_tokens::id)))
            .select((
                token_columns!(),
                token_networks::position.nullable(),
                token_networks::network.nullable(),
            ))
    };
}

/// A token as a page shows it, with its allowed networks in order.
pub type ShownToken = (TokenRow, Vec<String>);

pub struct NewToken<'a> {
    pub id: &'a TokenId,
    pub account_id: &'a AccountId,
    pub name: &'a str,
    pub description: &'a str,
    pub username: &'a str,
    pub secret_hmac: &'a [u8],
    pub secret_enc: &'a [u8],
    pub created_by: &'a UserId,
    pub expires_at: NaiveDateTime,
    /// Renew: the token this one replaces, and whether to revoke it at this one's first use.
    pub replaces_id: Option<&'a TokenId>,
    pub revoke_replaced_on_use: bool,
    /// The account version its transaction took (`accounts::lock`).
    pub version: i64,
}

pub fn insert(
    conn: &mut TokenWrites<'_>,
    token: &NewToken<'_>,
    networks: &[String],
    now: NaiveDateTime,
) -> QueryResult<()> {
    let conn = conn.changing();
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::id.eq(token.id),
            api_tokens::account_id.eq(token.account_id),
            api_tokens::name.eq(token.name),
            api_tokens::description.eq(token.description),
            api_tokens::username.eq(token.username),
            api_tokens::secret_hmac.eq(token.secret_hmac),
            api_tokens::secret_enc.eq(token.secret_enc),
            api_tokens::created_by.eq(token.created_by),
            api_tokens::created_at.eq(now),
            api_tokens::updated_at.eq(now),
            api_tokens::expires_at.eq(token.expires_at),
            api_tokens::replaces_id.eq(token.replaces_id.map(TokenId::as_str)),
            api_tokens::revoke_replaced_on_use.eq(token.revoke_replaced_on_use),
            api_tokens::changed_version.eq(token.version),
        ))
        .execute(conn)?;
    insert_networks(conn, token.id, networks)
}

fn replace_networks(conn: &mut DbConn, token_id: &TokenId, networks: &[String]) -> QueryResult<()> {
    diesel::delete(token_networks::table.filter(token_networks::token_id.eq(token_id)))
        .execute(conn)?;
    insert_networks(conn, token_id, networks)
}

fn insert_networks(conn: &mut DbConn, token_id: &TokenId, networks: &[String]) -> QueryResult<()> {
    // One row per statement: MultiConnection has no multi-row INSERT (at most 100 rows).
    for (position, network) in networks.iter().enumerate() {
        diesel::insert_into(token_networks::table)
            .values((
                token_networks::token_id.eq(token_id),
                token_networks::position.eq(position as i32),
                token_networks::network.eq(network.as_str()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn find(
    conn: &mut DbConn,
    account_id: &AccountId,
    id: &TokenId,
) -> QueryResult<Option<TokenRow>> {
    token_rows!()
        .filter(api_tokens::account_id.eq(account_id))
        .filter(api_tokens::id.eq(id))
        .first(conn)
        .optional()
}

/// The token whose stored password hash is one of `hashes` (see `TokenCrypto::stored_forms`),
/// in any account: a leak report names only the password.
pub fn find_by_secret(conn: &mut DbConn, hashes: &[Vec<u8>]) -> QueryResult<Option<TokenRow>> {
    token_rows!()
        .filter(api_tokens::secret_hmac.eq_any(hashes))
        .first(conn)
        .optional()
}

/// Rows read by id per statement: a page of a list (`views::PAGE_SIZE`).
pub const IDS_PER_STATEMENT: usize = 25;

/// Rows whose `column` is one of `ids` (at most `IDS_PER_STATEMENT`), by one statement
/// prepared once per connection. SQLite prepares an `IN (…)` list anew on every call (its
/// text varies with the count), so there the ids fill a fixed `column = ? OR …` of 25,
/// unused places holding an empty string, which is no id. PostgreSQL's `= ANY($1)` has one
/// text for any count, and is one index scan.
macro_rules! where_one_of {
    ($conn:expr, $query:expr, $column:expr, $ids:expr) => {{
        let ids: &[TokenId] = $ids;
        match $conn {
            DbConn::Sqlite(_) => {
                let padded: [&str; IDS_PER_STATEMENT] =
                    std::array::from_fn(|i| ids.get(i).map_or("", TokenId::as_str));
                where_one_of!(@or $query, $column, padded;
                    1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24)
                .load($conn)
            }
            DbConn::Pg(_) => $query
                .filter($column.eq_any(ids.iter().map(TokenId::as_str)))
                .load($conn),
        }
    }};
    (@or $query:expr, $column:expr, $ids:expr; $($i:literal)*) => {
        $query.filter($column.eq($ids[0]) $(.or($column.eq($ids[$i])))*)
    };
}

/// The allowed networks of several tokens, as (token id, network) in token and list order.
pub fn networks_of(conn: &mut DbConn, token_ids: &[TokenId]) -> QueryResult<Vec<(String, String)>> {
    let mut found: Vec<(String, i32, String)> = Vec::new();
    for ids in token_ids.chunks(IDS_PER_STATEMENT) {
        let query = token_networks::table.select((
            token_networks::token_id,
            token_networks::position,
            token_networks::network,
        ));
        let rows: Vec<(String, i32, String)> =
            where_one_of!(conn, query, token_networks::token_id, ids)?;
        found.extend(rows);
    }
    found.sort_unstable();
    Ok(found
        .into_iter()
        .map(|(id, _, network)| (id, network))
        .collect())
}

/// The stored (encrypted) password of an account's token, with the state that decides
/// whether it may be shown.
#[derive(Debug, Queryable)]
pub struct StoredSecret {
    pub name: String,
    pub username: String,
    pub secret_enc: Vec<u8>,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn find_secret(
    conn: &mut DbConn,
    account_id: &AccountId,
    id: &TokenId,
) -> QueryResult<Option<StoredSecret>> {
    api_tokens::table
        .filter(api_tokens::account_id.eq(account_id))
        .filter(api_tokens::id.eq(id))
        .select((
            api_tokens::name,
            api_tokens::username,
            api_tokens::secret_enc,
            api_tokens::expires_at,
            api_tokens::revoked_at,
        ))
        .first(conn)
        .optional()
}

/// Whether another active token of the account already has this name (case-insensitive).
pub fn name_in_use(
    conn: &mut DbConn,
    account_id: &AccountId,
    name: &str,
    now: NaiveDateTime,
    except_id: Option<&TokenId>,
) -> QueryResult<bool> {
    let holders: Vec<String> = api_tokens::table
        .filter(api_tokens::account_id.eq(account_id))
        .filter(lower(api_tokens::name).eq(lower(name)))
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.gt(now))
        .select(api_tokens::id)
        .limit(2)
        .load(conn)?;
    Ok(holders
        .iter()
        .any(|id| Some(id.as_str()) != except_id.map(TokenId::as_str)))
}

/// `version` is the account version its transaction took (`accounts::lock`).
pub fn update_details(
    conn: &mut TokenWrites<'_>,
    id: &TokenId,
    name: &str,
    description: &str,
    networks: &[String],
    now: NaiveDateTime,
    version: i64,
) -> QueryResult<()> {
    let conn = conn.changing();
    diesel::update(api_tokens::table.find(id))
        .set((
            api_tokens::name.eq(name),
            api_tokens::description.eq(description),
            api_tokens::updated_at.eq(now),
            api_tokens::changed_version.eq(version),
        ))
        .execute(conn)?;
    replace_networks(conn, id, networks)
}

/// Revokes an active token; returns false when it was not active (already revoked or
/// expired). `version` is the account version its transaction took (`accounts::lock`);
/// `revoked_by` is `None` when no person did it (a leak report).
pub fn revoke(
    conn: &mut TokenWrites<'_>,
    id: &TokenId,
    revoked_by: Option<&UserId>,
    reason: Option<&str>,
    now: NaiveDateTime,
    version: i64,
) -> QueryResult<bool> {
    let conn = conn.changing();
    let changed = diesel::update(
        api_tokens::table
            .find(id)
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::expires_at.gt(now)),
    )
    .set((
        api_tokens::revoked_at.eq(now),
        api_tokens::revoked_by.eq(revoked_by.map(UserId::as_str)),
        api_tokens::revoke_reason.eq(reason),
        api_tokens::updated_at.eq(now),
        api_tokens::changed_version.eq(version),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Matches part of the name, username or description, case-insensitively.
macro_rules! matches_text {
    ($pattern:expr) => {
        lower(api_tokens::name)
            .like(lower($pattern.clone()))
            .escape('\\')
            .or(lower(api_tokens::username)
                .like(lower($pattern.clone()))
                .escape('\\'))
            .or(lower(api_tokens::description)
                .like(lower($pattern.clone()))
                .escape('\\'))
    };
}

/// The active tokens of an account (optionally matching `search`), as a boxed query to
/// select from: the same predicate for a page and for its count.
macro_rules! active_tokens {
    ($account_id:expr, $now:expr, $filter:expr) => {{
        let filter: &ActiveFilter = $filter;
        let mut query = api_tokens::table
            .filter(api_tokens::account_id.eq($account_id))
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::expires_at.gt($now))
            .into_boxed::<super::MultiBackend>();
        if let Some(pattern) = filter.search.as_deref().map(super::like_contains) {
            query = query.filter(matches_text!(pattern));
        }
        if let Some(since) = filter.unused_since {
            query = query.filter(
                api_tokens::last_used_at
                    .is_null()
                    .or(api_tokens::last_used_at.lt(since)),
            );
        }
        query
    }};
}

/// One page of active tokens, soonest expiry first, optionally matching `search` in the
/// name, username or description.
///
/// The page's ids come first, from the index alone (`api_tokens_active`); then only those
/// rows are read and joined: a deep page skips index entries, not rows. (Two statements:
/// MultiConnection cannot nest a boxed subquery.)
pub fn list_active(
    conn: &mut DbConn,
    account_id: &AccountId,
    now: NaiveDateTime,
    filter: &ActiveFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<ShownToken>> {
    let page_ids = active_tokens!(account_id, now, filter)
        .select(api_tokens::id)
        .order((api_tokens::expires_at.asc(), api_tokens::id.asc()))
        .limit(limit)
        .offset(offset)
        .load::<String>(conn)?;
    let page_ids: Vec<TokenId> = page_ids.into_iter().map(TokenId::from).collect();
    rows_in_order(conn, account_id, &page_ids)
}

/// These tokens of the account with their networks, in the order of `ids`: one prepared
/// statement per 25 ids.
///
/// The rows are found by primary key alone and checked against the account here: with
/// `account_id = ? AND id IN (…)`, SQLite without statistics walked every token of the
/// account through an account index instead (40 ms a page at 100,000 tokens).
pub fn rows_in_order(
    conn: &mut DbConn,
    account_id: &AccountId,
    ids: &[TokenId],
) -> QueryResult<Vec<ShownToken>> {
    let mut found: Vec<(TokenRow, Option<i32>, Option<String>)> = Vec::new();
    for group in ids.chunks(IDS_PER_STATEMENT) {
        let rows: Vec<(TokenRow, Option<i32>, Option<String>)> =
            where_one_of!(conn, token_rows_with_networks!(), api_tokens::id, group)?;
        found.extend(rows);
    }
    let position: std::collections::HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    found.retain(|(row, _, _)| row.account_id == *account_id);
    found.sort_by_key(|(row, network_position, _)| {
        (position.get(row.id.as_str()).copied(), *network_position)
    });
    let mut shown: Vec<ShownToken> = Vec::with_capacity(ids.len());
    for (row, _, network) in found {
        match shown.last_mut() {
            Some((last, networks)) if last.id == row.id => networks.extend(network),
            _ => shown.push((row, network.into_iter().collect())),
        }
    }
    Ok(shown)
}

/// Up to `limit` ids of the account's tokens, in no particular order (for `sesame seed`).
pub fn some_ids(
    conn: &mut DbConn,
    account_id: &AccountId,
    limit: i64,
) -> QueryResult<Vec<TokenId>> {
    let ids: Vec<String> = api_tokens::table
        .filter(api_tokens::account_id.eq(account_id))
        .select(api_tokens::id)
        .limit(limit)
        .load(conn)?;
    Ok(ids.into_iter().map(TokenId::from).collect())
}

/// The account's token ids after `after`, in id order (a keyset walk over all of them).
pub fn ids_after(
    conn: &mut DbConn,
    account_id: &AccountId,
    after: Option<&TokenId>,
    limit: i64,
) -> QueryResult<Vec<TokenId>> {
    let mut query = api_tokens::table
        .filter(api_tokens::account_id.eq(account_id))
        .select(api_tokens::id)
        .order(api_tokens::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(api_tokens::id.gt(after.as_str()));
    }
    let ids: Vec<String> = query.load(conn)?;
    Ok(ids.into_iter().map(TokenId::from).collect())
}

/// A token as the in-memory lists hold it (`tokens::directory`).
#[derive(Debug, Queryable)]
pub struct ListedRow {
    pub changed_version: i64,
    pub id: String,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub created_by: String,
    pub created_by_email: String,
    pub name: String,
    pub username: String,
    pub description: String,
    pub last_used_at: Option<NaiveDateTime>,
}

/// The account's tokens with their creators' e-mails, as `ListedRow` reads them.
macro_rules! listed_rows {
    ($account_id:expr) => {
        api_tokens::table
            .inner_join(users::table.on(users::id.eq(api_tokens::created_by)))
            .filter(api_tokens::account_id.eq($account_id))
            .select((
                api_tokens::changed_version,
                api_tokens::id,
                api_tokens::expires_at,
                api_tokens::revoked_at,
                api_tokens::created_by,
                users::email,
                api_tokens::name,
                api_tokens::username,
                api_tokens::description,
                api_tokens::last_used_at,
            ))
    };
}

/// The next `limit` of the account's tokens changed after account version `after` (all of
/// them for -1), in (changed_version, id) order from just past `position`, the last row of
/// the chunk before. Two index ranges on `api_tokens_changed`, each starting at its
/// position: the rest of the position's version, then the versions after it.
pub fn listed_since(
    conn: &mut DbConn,
    account_id: &AccountId,
    after: i64,
    position: Option<(i64, &str)>,
    limit: i64,
) -> QueryResult<Vec<ListedRow>> {
    let mut rows = match position {
        Some((version, id)) => listed_rows!(account_id)
            .filter(api_tokens::changed_version.eq(version))
            .filter(api_tokens::id.gt(id))
            .order(api_tokens::id)
            .limit(limit)
            .load(conn)?,
        None => Vec::new(),
    };
    let rest = limit - rows.len() as i64;
    if rest > 0 {
        let from = position.map_or(after, |(version, _)| version.max(after));
        rows.extend(
            listed_rows!(account_id)
                .filter(api_tokens::changed_version.gt(from))
                .order((api_tokens::changed_version, api_tokens::id))
                .limit(rest)
                .load::<ListedRow>(conn)?,
        );
    }
    Ok(rows)
}

/// The ids of every active token matching the filter (bulk revoke's "all matching").
pub fn active_ids(
    conn: &mut DbConn,
    account_id: &AccountId,
    now: NaiveDateTime,
    filter: &ActiveFilter,
) -> QueryResult<Vec<TokenId>> {
    let ids: Vec<String> = active_tokens!(account_id, now, filter)
        .select(api_tokens::id)
        .order(api_tokens::id.asc())
        .load(conn)?;
    Ok(ids.into_iter().map(TokenId::from).collect())
}

/// How many active tokens match `search` (without a search, `tokens::summary` has the
/// count without counting).
pub fn count_active(
    conn: &mut DbConn,
    account_id: &AccountId,
    now: NaiveDateTime,
    filter: &ActiveFilter,
) -> QueryResult<i64> {
    active_tokens!(account_id, now, filter)
        .count()
        .get_result(conn)
}

/// How a token stopped working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Expired,
    Revoked,
}

/// What API Tokens can be narrowed to.
#[derive(Debug, Default, Clone)]
pub struct ActiveFilter {
    /// Part of the name, username or description.
    pub search: Option<String>,
    /// Only the tokens with no accepted call since then (day-granular: the start of a
    /// day, see `usage::window_start`); never used counts as unused.
    pub unused_since: Option<NaiveDateTime>,
}

impl ActiveFilter {
    pub fn is_empty(&self) -> bool {
        self.search.is_none() && self.unused_since.is_none()
    }
}

/// What Expired & Revoked can be narrowed to.
#[derive(Debug, Default, Clone)]
pub struct InactiveFilter {
    pub ended: Option<Ended>,
    /// When it stopped working: on or after, and before.
    pub from: Option<NaiveDateTime>,
    pub before: Option<NaiveDateTime>,
    /// Part of the creator's e-mail address.
    pub creator: Option<String>,
    /// Part of the name, username or description.
    pub text: Option<String>,
}

impl InactiveFilter {
    pub fn is_empty(&self) -> bool {
        self.ended.is_none()
            && self.from.is_none()
            && self.before.is_none()
            && self.creator.is_none()
            && self.text.is_none()
    }
}

/// When a token stopped working. Indexed with its account (`api_tokens_ended`); a token is
/// inactive exactly when this is not in the future (a revocation is never dated ahead).
fn ended_at() -> super::coalesce<api_tokens::revoked_at, api_tokens::expires_at> {
    super::coalesce(api_tokens::revoked_at, api_tokens::expires_at)
}

/// The expired and revoked tokens of an account matching the filter, as a boxed query.
macro_rules! inactive_tokens {
    ($account_id:expr, $now:expr, $filter:expr) => {{
        let filter: &InactiveFilter = $filter;
        let mut query = api_tokens::table
            .inner_join(users::table.on(users::id.eq(api_tokens::created_by)))
            .filter(api_tokens::account_id.eq($account_id))
            .filter(ended_at().le($now))
            .into_boxed::<super::MultiBackend>();
        match filter.ended {
            Some(Ended::Revoked) => query = query.filter(api_tokens::revoked_at.is_not_null()),
            Some(Ended::Expired) => query = query.filter(api_tokens::revoked_at.is_null()),
            None => {}
        }
        if let Some(from) = filter.from {
            query = query.filter(ended_at().ge(from));
        }
        if let Some(before) = filter.before {
            query = query.filter(ended_at().lt(before));
        }
        if let Some(creator) = &filter.creator {
            let pattern = super::like_contains(creator);
            query = query.filter(lower(users::email).like(lower(pattern)).escape('\\'));
        }
        if let Some(text) = &filter.text {
            let pattern = super::like_contains(text);
            query = query.filter(matches_text!(pattern));
        }
        query
    }};
}

/// One page of expired and revoked tokens matching the filter, most recently ended first;
/// the page's ids come from the index first, as for `list_active`.
pub fn list_inactive(
    conn: &mut DbConn,
    account_id: &AccountId,
    now: NaiveDateTime,
    filter: &InactiveFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<ShownToken>> {
    let page_ids = inactive_tokens!(account_id, now, filter)
        .select(api_tokens::id)
        .order((ended_at().desc(), api_tokens::id.desc()))
        .limit(limit)
        .offset(offset)
        .load::<String>(conn)?;
    let page_ids: Vec<TokenId> = page_ids.into_iter().map(TokenId::from).collect();
    rows_in_order(conn, account_id, &page_ids)
}

/// How many expired and revoked tokens match the filter (unfiltered, `tokens::summary`
/// has the count without counting).
pub fn count_inactive(
    conn: &mut DbConn,
    account_id: &AccountId,
    now: NaiveDateTime,
    filter: &InactiveFilter,
) -> QueryResult<i64> {
    inactive_tokens!(account_id, now, filter)
        .count()
        .get_result(conn)
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub active: i64,
    pub expiring_soon: i64,
    pub expired: i64,
    pub revoked: i64,
    /// Active with no accepted call since the `unused_since` counted at.
    pub unused: i64,
}

pub fn counts(
    conn: &mut DbConn,
    account_id: &AccountId,
    now: NaiveDateTime,
    soon: NaiveDateTime,
    unused_since: NaiveDateTime,
) -> QueryResult<Counts> {
    let unused = count_active(
        conn,
        account_id,
        now,
        &ActiveFilter {
            unused_since: Some(unused_since),
            ..ActiveFilter::default()
        },
    )?;
    let active = api_tokens::table
        .filter(api_tokens::account_id.eq(account_id))
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.gt(now))
        .count()
        .get_result(conn)?;
    let expiring_soon = count_expiring_between(conn, account_id, now, soon)?;
    let expired = api_tokens::table
        .filter(api_tokens::account_id.eq(account_id))
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.le(now))
        .count()
        .get_result(conn)?;
    let revoked = api_tokens::table
        .filter(api_tokens::account_id.eq(account_id))
        .filter(api_tokens::revoked_at.is_not_null())
        .count()
        .get_result(conn)?;
    Ok(Counts {
        active,
        expiring_soon,
        expired,
        revoked,
        unused,
    })
}

/// Active tokens whose expiry falls in `(from, to]`.
pub fn count_expiring_between(
    conn: &mut DbConn,
    account_id: &AccountId,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<i64> {
    api_tokens::table
        .filter(api_tokens::account_id.eq(account_id))
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.gt(from))
        .filter(api_tokens::expires_at.le(to))
        .count()
        .get_result(conn)
}

/// What the API check needs of a token, one row per allowed network (or one row with
/// `network` NULL): a single indexed query on the hot path.
#[derive(Debug, Queryable)]
pub struct CheckRow {
    #[diesel(deserialize_as = String)]
    pub id: TokenId,
    #[diesel(deserialize_as = String)]
    pub account_id: AccountId,
    pub account_name: String,
    pub name: String,
    pub secret_hmac: Vec<u8>,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub network: Option<String>,
}

pub fn find_for_check(conn: &mut DbConn, username: &str) -> QueryResult<Vec<CheckRow>> {
    use super::schema::accounts;
    api_tokens::table
        .inner_join(accounts::table.on(accounts::id.eq(api_tokens::account_id)))
        .left_join(token_networks::table.on(token_networks::token_id.eq(api_tokens::id)))
        .filter(api_tokens::username.eq(username))
        .select((
            api_tokens::id,
            api_tokens::account_id,
            accounts::name,
            api_tokens::name,
            api_tokens::secret_hmac,
            api_tokens::expires_at,
            api_tokens::revoked_at,
            api_tokens::last_used_at,
            token_networks::network.nullable(),
        ))
        .load(conn)
}

/// Records a use, unless one was recorded less than `since` ago (by any process).
pub fn record_use(
    conn: &mut DbConn,
    id: &TokenId,
    ip: Option<&str>,
    at: NaiveDateTime,
    since: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        api_tokens::table.find(id).filter(
            api_tokens::last_used_at
                .is_null()
                .or(api_tokens::last_used_at.le(since)),
        ),
    )
    .set((
        api_tokens::last_used_at.eq(at),
        api_tokens::last_used_ip.eq(ip),
    ))
    .execute(conn)
    .map(|_| ())
}

/// At a renewal's first use: revokes the token it replaces, if that was asked for and the
/// old one still works. Returns (old token id, account id).
/// A token's place in a chain of renewals.
#[derive(Debug, Default, Clone)]
pub struct Renewals {
    /// The token it replaces: id and name.
    pub replaces: Option<(TokenId, String)>,
    /// The newest token that replaces it: id, name, and whether that one revokes it at its
    /// first use (still pending).
    pub replaced_by: Option<(TokenId, String, bool)>,
}

/// The renewals around a token of the account (`api_tokens_replaces`).
pub fn renewals(conn: &mut DbConn, account_id: &AccountId, id: &TokenId) -> QueryResult<Renewals> {
    let previous: Option<Option<String>> = api_tokens::table
        .find(id)
        .filter(api_tokens::account_id.eq(account_id))
        .select(api_tokens::replaces_id)
        .first(conn)
        .optional()?;
    let replaces = match previous.flatten() {
        Some(previous) => api_tokens::table
            .find(&previous)
            .filter(api_tokens::account_id.eq(account_id))
            .select(api_tokens::name)
            .first::<String>(conn)
            .optional()?
            .map(|name| (TokenId::from(previous), name)),
        None => None,
    };
    let replaced_by: Option<(String, String, bool)> = api_tokens::table
        .filter(api_tokens::replaces_id.eq(id))
        .filter(api_tokens::account_id.eq(account_id))
        .order(api_tokens::created_at.desc())
        .select((
            api_tokens::id,
            api_tokens::name,
            api_tokens::revoke_replaced_on_use,
        ))
        .first(conn)
        .optional()?;
    Ok(Renewals {
        replaces,
        replaced_by: replaced_by.map(|(id, name, pending)| (TokenId::from(id), name, pending)),
    })
}

/// Why a renewed token stopped working, in Expired & Revoked and the audit log.
pub const AUTO_REVOKE_REASON: &str = "revoked automatically when its renewal was first used";

pub fn revoke_replaced(
    conn: &mut TokenWrites<'_>,
    new_id: &TokenId,
    now: NaiveDateTime,
) -> QueryResult<Option<(TokenId, AccountId)>> {
    let pending: Option<(Option<String>, String)> = api_tokens::table
        .find(new_id)
        .filter(api_tokens::revoke_replaced_on_use.eq(true))
        .select((api_tokens::replaces_id, api_tokens::account_id))
        .first(&mut **conn)
        .optional()?;
    let Some((Some(old_id), account_id)) = pending else {
        return Ok(None);
    };
    let (old_id, account_id) = (TokenId::from(old_id), AccountId::from(account_id));
    // The account's lock first, as every token write takes it (and cached counts of its
    // tokens start over).
    let version = super::accounts::lock(conn.changing(), &account_id)?;
    diesel::update(api_tokens::table.find(new_id))
        .set(api_tokens::revoke_replaced_on_use.eq(false))
        .execute(conn.changing())?;
    // Nobody's doing: the system's, when the renewal was first used (the person who renewed
    // chose it, but did not revoke it then).
    let revoked = revoke(conn, &old_id, None, Some(AUTO_REVOKE_REASON), now, version)?;
    Ok(revoked.then_some((old_id, account_id)))
}

/// The next batch of stored secrets (by id, after `after`), for re-keying.
pub fn secrets_after(
    conn: &mut DbConn,
    after: &str,
    limit: i64,
) -> QueryResult<Vec<(TokenId, Vec<u8>)>> {
    let batch: Vec<(String, Vec<u8>)> = api_tokens::table
        .filter(api_tokens::id.gt(after))
        .order(api_tokens::id.asc())
        .limit(limit)
        .select((api_tokens::id, api_tokens::secret_enc))
        .load(conn)?;
    Ok(batch
        .into_iter()
        .map(|(id, secret)| (TokenId::from(id), secret))
        .collect())
}

pub fn set_secret(
    conn: &mut TokenWrites<'_>,
    id: &TokenId,
    secret_hmac: &[u8],
    secret_enc: &[u8],
) -> QueryResult<()> {
    let conn = conn.changing();
    diesel::update(api_tokens::table.find(id))
        .set((
            api_tokens::secret_hmac.eq(secret_hmac),
            api_tokens::secret_enc.eq(secret_enc),
        ))
        .execute(conn)
        .map(|_| ())
}
