//! The notices, rendered from askama templates (a text and an HTML body each) and queued
//! in the outbox by the transaction that causes them.

use crate::db::outbox::{self, NewNotice};
use crate::db::{users, DbConn};
use crate::domain::{AccountId, BrowserAndOs, TokenId};
use askama::Template;
use chrono::NaiveDateTime;
use url::Url;

pub const TOKEN_CREATED: &str = "token_created";
pub const TOKEN_EXPIRING: &str = "token_expiring";
pub const TOKEN_IP_ALERT: &str = "token_ip_alert";
pub const NEW_SIGN_IN: &str = "new_sign_in";
pub const TOKEN_LEAKED: &str = "token_leaked";

/// How long before expiry the creator is reminded.
pub const REMINDER_HOURS: i64 = 48;

/// A rendered notice.
pub struct Message {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn utc(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn render(
    subject: String,
    text: impl Template,
    html: impl Template,
) -> Result<Message, askama::Error> {
    Ok(Message {
        subject,
        text: text.render()?,
        html: html.render()?,
    })
}

/// What the "new token" notice says.
pub struct TokenCreated<'a> {
    pub account_name: &'a str,
    pub token_id: &'a TokenId,
    pub name: &'a str,
    pub creator: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub networks: &'a [String],
}

#[derive(Template)]
#[template(path = "email/token_created.txt")]
struct CreatedText<'a> {
    m: &'a TokenCreated<'a>,
    link: &'a str,
    created: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "email/token_created.html")]
struct CreatedHtml<'a> {
    m: &'a TokenCreated<'a>,
    link: &'a str,
    created: String,
    expires: String,
}

/// Queues "New API token created" for every admin of the account, in the caller's
/// transaction: no token without its notices.
pub fn queue_token_created(
    conn: &mut DbConn,
    base_url: &Url,
    account_id: &AccountId,
    token: &TokenCreated<'_>,
    now: NaiveDateTime,
) -> Result<(), crate::error::AppError> {
    let link = crate::links::absolute(base_url, &format!("tokens/{}", token.token_id));
    let message = render(
        format!("New API token created: {}", token.name),
        CreatedText {
            m: token,
            link: &link,
            created: utc(token.created_at),
            expires: utc(token.expires_at),
        },
        CreatedHtml {
            m: token,
            link: &link,
            created: utc(token.created_at),
            expires: utc(token.expires_at),
        },
    )
    .map_err(|e| crate::error::AppError::internal(format!("e-mail template: {e}")))?;
    for admin in users::admin_emails(conn, account_id)? {
        enqueue(
            conn,
            account_id,
            TOKEN_CREATED,
            token.token_id,
            "",
            &admin,
            &message,
            now,
        )?;
    }
    Ok(())
}

/// What the expiry reminder says.
pub struct TokenExpiring<'a> {
    pub token_id: &'a TokenId,
    pub name: &'a str,
    pub expires_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub last_used_ip: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "email/token_expiring.txt")]
struct ExpiringText<'a> {
    m: &'a TokenExpiring<'a>,
    link: &'a str,
    renew_link: &'a str,
    expires: String,
    last_used: Option<String>,
}

#[derive(Template)]
#[template(path = "email/token_expiring.html")]
struct ExpiringHtml<'a> {
    m: &'a TokenExpiring<'a>,
    link: &'a str,
    renew_link: &'a str,
    expires: String,
    last_used: Option<String>,
}

pub fn token_expiring(base_url: &Url, token: &TokenExpiring<'_>) -> Result<Message, askama::Error> {
    let link = crate::links::absolute(base_url, &format!("tokens/{}", token.token_id));
    let renew_link = crate::links::absolute(base_url, &format!("tokens/{}/renew", token.token_id));
    let last_used = token.last_used_at.map(utc);
    render(
        format!("API token expiring soon: {}", token.name),
        ExpiringText {
            m: token,
            link: &link,
            renew_link: &renew_link,
            expires: utc(token.expires_at),
            last_used: last_used.clone(),
        },
        ExpiringHtml {
            m: token,
            link: &link,
            renew_link: &renew_link,
            expires: utc(token.expires_at),
            last_used,
        },
    )
}

/// What the alert about a use from outside the whitelist says.
pub struct TokenIpAlert<'a> {
    pub token_id: &'a TokenId,
    pub name: &'a str,
    pub address: &'a str,
    pub at: NaiveDateTime,
}

#[derive(Template)]
#[template(path = "email/token_ip_alert.txt")]
struct IpAlertText<'a> {
    m: &'a TokenIpAlert<'a>,
    link: &'a str,
    when: String,
}

#[derive(Template)]
#[template(path = "email/token_ip_alert.html")]
struct IpAlertHtml<'a> {
    m: &'a TokenIpAlert<'a>,
    link: &'a str,
    when: String,
}

/// Queues the alert for every admin, at most once per token per rolling hour (the hour
/// bucket in the outbox's unique key also stops two processes racing within an hour).
pub fn queue_ip_alert(
    conn: &mut DbConn,
    base_url: &Url,
    account_id: &AccountId,
    alert: &TokenIpAlert<'_>,
) -> Result<(), crate::error::AppError> {
    if outbox::queued_since(
        conn,
        TOKEN_IP_ALERT,
        alert.token_id,
        alert.at - chrono::Duration::hours(1),
    )? {
        return Ok(());
    }
    let link = crate::links::absolute(base_url, &format!("tokens/{}", alert.token_id));
    let message = render(
        format!(
            "API token used from an address it does not allow: {}",
            alert.name
        ),
        IpAlertText {
            m: alert,
            link: &link,
            when: utc(alert.at),
        },
        IpAlertHtml {
            m: alert,
            link: &link,
            when: utc(alert.at),
        },
    )
    .map_err(|e| crate::error::AppError::internal(format!("e-mail template: {e}")))?;
    let hour = alert.at.format("%Y-%m-%dT%H").to_string();
    for admin in users::admin_emails(conn, account_id)? {
        enqueue(
            conn,
            account_id,
            TOKEN_IP_ALERT,
            alert.token_id,
            &hour,
            &admin,
            &message,
            alert.at,
        )?;
    }
    Ok(())
}

/// What the notice of a token revoked after a leak report says.
pub struct TokenLeaked<'a> {
    pub token_id: &'a TokenId,
    pub name: &'a str,
    /// Where the report says it was found, and by what (GitHub: `url`, `source`).
    pub url: &'a str,
    pub source: &'a str,
    pub revoked_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub last_used_ip: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "email/token_leaked.txt")]
struct LeakedText<'a> {
    m: &'a TokenLeaked<'a>,
    link: &'a str,
    renew_link: &'a str,
    when: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "email/token_leaked.html")]
struct LeakedHtml<'a> {
    m: &'a TokenLeaked<'a>,
    link: &'a str,
    renew_link: &'a str,
    when: String,
    last_used: String,
}

/// Queues "API token revoked after a leak" for every admin of the account, in the
/// revoking transaction.
pub fn queue_token_leaked(
    conn: &mut DbConn,
    base_url: &Url,
    account_id: &AccountId,
    leak: &TokenLeaked<'_>,
) -> Result<(), crate::error::AppError> {
    let link = crate::links::absolute(base_url, &format!("tokens/{}", leak.token_id));
    let renew_link = crate::links::absolute(base_url, &format!("tokens/{}/renew", leak.token_id));
    let last_used = match (leak.last_used_at, leak.last_used_ip) {
        (Some(at), Some(ip)) => format!("{} from {ip}", utc(at)),
        (Some(at), None) => utc(at),
        (None, _) => "never".to_string(),
    };
    let message = render(
        format!("API token revoked after a leak: {}", leak.name),
        LeakedText {
            m: leak,
            link: &link,
            renew_link: &renew_link,
            when: utc(leak.revoked_at),
            last_used: last_used.clone(),
        },
        LeakedHtml {
            m: leak,
            link: &link,
            renew_link: &renew_link,
            when: utc(leak.revoked_at),
            last_used,
        },
    )
    .map_err(|e| crate::error::AppError::internal(format!("e-mail template: {e}")))?;
    for admin in users::admin_emails(conn, account_id)? {
        enqueue(
            conn,
            account_id,
            TOKEN_LEAKED,
            leak.token_id,
            "",
            &admin,
            &message,
            leak.revoked_at,
        )?;
    }
    Ok(())
}

/// What the e-mail about a sign-in from a new device says (it holds no secret, so it
/// goes through the outbox).
pub struct NewSignIn<'a> {
    pub account_id: &'a AccountId,
    pub email: &'a str,
    pub device: &'a BrowserAndOs,
    pub ip: &'a str,
    pub at: NaiveDateTime,
}

#[derive(Template)]
#[template(path = "email/new_sign_in.txt")]
struct NewSignInText<'a> {
    m: &'a NewSignIn<'a>,
    link: &'a str,
    when: String,
}

#[derive(Template)]
#[template(path = "email/new_sign_in.html")]
struct NewSignInHtml<'a> {
    m: &'a NewSignIn<'a>,
    link: &'a str,
    when: String,
}

/// Queues the new-device e-mail to the user who signed in.
pub fn queue_new_sign_in(
    conn: &mut DbConn,
    base_url: &Url,
    sign_in: &NewSignIn<'_>,
) -> Result<(), crate::error::AppError> {
    let link = crate::links::absolute(base_url, "sessions");
    let message = render(
        format!("New sign-in to Sesame Tokens from {}", sign_in.device),
        NewSignInText {
            m: sign_in,
            link: &link,
            when: utc(sign_in.at),
        },
        NewSignInHtml {
            m: sign_in,
            link: &link,
            when: utc(sign_in.at),
        },
    )
    .map_err(|e| crate::error::AppError::internal(format!("e-mail template: {e}")))?;
    outbox::enqueue(
        conn,
        &NewNotice {
            account_id: Some(sign_in.account_id),
            kind: NEW_SIGN_IN,
            token_id: None,
            period: "",
            recipient: sign_in.email,
            subject: &message.subject,
            body_text: &message.text,
            body_html: &message.html,
        },
        sign_in.at,
    )?;
    Ok(())
}

/// What the hand-off e-mail says (sent at once, never stored: it carries the link).
pub struct Handoff<'a> {
    pub from: &'a str,
    pub account_name: &'a str,
    pub token_name: &'a str,
    pub url: &'a str,
    /// The token API's address, to use the credentials on.
    pub api_url: &'a str,
    pub expires_at: NaiveDateTime,
}

#[derive(Template)]
#[template(path = "email/handoff.txt")]
struct HandoffText<'a> {
    m: &'a Handoff<'a>,
    expires: String,
}

#[derive(Template)]
#[template(path = "email/handoff.html")]
struct HandoffHtml<'a> {
    m: &'a Handoff<'a>,
    expires: String,
}

pub fn handoff(handoff: &Handoff<'_>) -> Result<Message, askama::Error> {
    render(
        format!("API credentials for you: {}", handoff.token_name),
        HandoffText {
            m: handoff,
            expires: utc(handoff.expires_at),
        },
        HandoffHtml {
            m: handoff,
            expires: utc(handoff.expires_at),
        },
    )
}

/// An invitation or a password reset: a one-time link to set a password (sent at once,
/// never stored: it carries the link).
pub struct PasswordLink<'a> {
    pub account_name: &'a str,
    pub invited_by: Option<&'a str>,
    pub role: &'a str,
    pub url: &'a str,
    pub expires_at: NaiveDateTime,
}

#[derive(Template)]
#[template(path = "email/password_link.txt")]
struct PasswordLinkText<'a> {
    m: &'a PasswordLink<'a>,
    expires: String,
}

#[derive(Template)]
#[template(path = "email/password_link.html")]
struct PasswordLinkHtml<'a> {
    m: &'a PasswordLink<'a>,
    expires: String,
}

pub fn password_link(link: &PasswordLink<'_>) -> Result<Message, askama::Error> {
    let subject = match link.invited_by {
        Some(_) => format!("You are invited to Sesame Tokens ({})", link.account_name),
        None => "Set a new Sesame Tokens password".to_string(),
    };
    render(
        subject,
        PasswordLinkText {
            m: link,
            expires: utc(link.expires_at),
        },
        PasswordLinkHtml {
            m: link,
            expires: utc(link.expires_at),
        },
    )
}

#[allow(clippy::too_many_arguments)]
pub fn enqueue(
    conn: &mut DbConn,
    account_id: &AccountId,
    kind: &str,
    token_id: &TokenId,
    period: &str,
    recipient: &str,
    message: &Message,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    let notice = notice(account_id, kind, token_id, period, recipient, message);
    outbox::enqueue(conn, &notice, now)
}

/// The outbox row of `message` about a token.
pub fn notice<'a>(
    account_id: &'a AccountId,
    kind: &'a str,
    token_id: &'a TokenId,
    period: &'a str,
    recipient: &'a str,
    message: &'a Message,
) -> NewNotice<'a> {
    NewNotice {
        account_id: Some(account_id),
        kind,
        token_id: Some(token_id),
        period,
        recipient,
        subject: &message.subject,
        body_text: &message.text,
        body_html: &message.html,
    }
}
