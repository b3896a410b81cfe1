//! E-mail that must never be stored — a password-reset link — sent off the request path
//! by a thread of its own. The message lives only in this queue until it is sent; the
//! database keeps the link's hash alone.

use super::mailer::Mailer;
use super::messages::Message;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

/// Messages waiting at most; beyond that a request's e-mail is dropped (and logged): the
/// person can ask again, and a flood cannot grow memory.
const QUEUE: usize = 256;

pub struct DirectMail {
    jobs: SyncSender<(String, Message)>,
}

impl DirectMail {
    /// Starts the sending thread; it stops once the queue is dropped.
    pub fn start(mailer: Mailer) -> Self {
        let (jobs, queue) = sync_channel::<(String, Message)>(QUEUE);
        std::thread::Builder::new()
            .name("sesame-mail".into())
            .spawn(move || {
                for (to, message) in queue {
                    if let Err(error) =
                        mailer.send(&to, &message.subject, &message.text, &message.html)
                    {
                        tracing::warn!(error, "e-mail with a one-time link not sent");
                    }
                }
            })
            .expect("the mail thread starts");
        Self { jobs }
    }

    /// Queues the message; never waits.
    pub fn send(&self, to: String, message: Message) {
        match self.jobs.try_send((to, message)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => tracing::warn!("mail queue full; an e-mail was dropped"),
            Err(TrySendError::Disconnected(_)) => tracing::error!("the mail thread has stopped"),
        }
    }
}
