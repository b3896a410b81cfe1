//! E-mail notices: what each says (`messages`), how it travels (`mailer`), and the
//! scheduler that queues expiry reminders and delivers the outbox (`scheduler`), and the
//! queue for e-mail that must not be stored (`direct`); the weekly token report (`weekly`).

pub mod direct;
pub mod mailer;
pub mod messages;
pub mod scheduler;
pub mod weekly;
