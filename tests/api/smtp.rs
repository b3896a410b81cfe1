//! A real SMTP server inside the test process (mailin-embedded), collecting what it gets.

use mailin_embedded::{response, Handler, Response, Server};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    /// Headers and body, with quoted-printable soft line breaks undone.
    pub data: String,
}

impl Mail {
    pub fn subject(&self) -> &str {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
    }
}

#[derive(Clone)]
struct Collector {
    inbox: Arc<Mutex<Vec<Mail>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let data = String::from_utf8_lossy(&self.data).replace("=\r\n", "");
        self.inbox.lock().unwrap().push(Mail {
            to: std::mem::take(&mut self.to),
            data,
        });
        response::OK
    }
}

pub struct SmtpServer {
    pub port: u16,
    inbox: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpServer {
    pub fn start() -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// On a port chosen earlier (to start the server "again" where the app expects it).
    pub fn start_on(port: u16) -> Self {
        Self::on(TcpListener::bind(("127.0.0.1", port)).unwrap())
    }

    fn on(listener: TcpListener) -> Self {
        let port = listener.local_addr().unwrap().port();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let collector = Collector {
            inbox: inbox.clone(),
            to: Vec::new(),
            data: Vec::new(),
        };
        // `serve` runs forever and its error is not Send: it gets a thread of its own.
        std::thread::spawn(move || {
            let mut server = Server::new(collector);
            server.with_name("smtp.test").with_tcp_listener(listener);
            let _ = server.serve();
        });
        Self { port, inbox }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.inbox.lock().unwrap().clone()
    }

    pub fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == address))
            .collect()
    }
}
