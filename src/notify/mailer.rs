//! How notices travel: SMTP from `SESAME_SMTP_URL`, or `.eml` files in the data directory.

use crate::config::Settings;
use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::{FileTransport, Message, SmtpTransport, Transport};
use std::path::PathBuf;
use std::time::Duration;

enum Transports {
    Smtp(SmtpTransport),
    Files(FileTransport),
}

pub struct Mailer {
    transport: Transports,
    from: Mailbox,
}

impl Mailer {
    /// Checked at start: a bad address or URL stops the server with the variable's name.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .mail_from
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid SESAME_MAIL_FROM: {e}"))?;
        let transport = match &settings.smtp_url {
            // smtp://host:port (add ?tls=required for STARTTLS), smtps://user:pass@host
            Some(url) => Transports::Smtp(
                SmtpTransport::from_url(url.expose())
                    .map_err(|e| anyhow::anyhow!("invalid SESAME_SMTP_URL: {e}"))?
                    .timeout(Some(Duration::from_secs(10)))
                    .build(),
            ),
            None => {
                let dir = mail_dir(settings);
                std::fs::create_dir_all(&dir).with_context(|| {
                    format!("cannot create the mail directory {}", dir.display())
                })?;
                tracing::info!(dir = %dir.display(), "no SESAME_SMTP_URL: e-mails are written as .eml files");
                Transports::Files(FileTransport::new(dir))
            }
        };
        Ok(Self { transport, from })
    }

    /// Sends one message; the error says why, for the outbox's `last_error`.
    pub fn send(&self, to: &str, subject: &str, text: &str, html: &str) -> Result<(), String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("bad recipient address: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(
                text.to_string(),
                html.to_string(),
            ))
            .map_err(|e| format!("cannot build the message: {e}"))?;
        match &self.transport {
            Transports::Smtp(smtp) => smtp
                .send(&message)
                .map(|_| ())
                .map_err(|e| format!("SMTP: {e}")),
            Transports::Files(files) => files
                .send(&message)
                .map(|_| ())
                .map_err(|e| format!("file: {e}")),
        }
    }
}

/// Where `.eml` files go without SMTP.
pub fn mail_dir(settings: &Settings) -> PathBuf {
    settings.data_dir.join("mail")
}
