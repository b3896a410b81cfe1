//! E-mail notices: what each says (`messages`), how it travels (`mailer`), and the
//! scheduler that queues expiry reminders and delivers the outbox (`scheduler`).

pub mod mailer;
pub mod messages;
pub mod scheduler;
