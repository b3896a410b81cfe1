//! The client's address: the socket peer, unless that peer is a trusted proxy, in which
//! case the right-most untrusted hop of `X-Forwarded-For`. Anyone else's header is ignored.

use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use ipnetwork::IpNetwork;
use std::future::{ready, Ready};
use std::net::IpAddr;

pub fn resolve<'a>(
    peer: Option<IpAddr>,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpNetwork],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in forwarded_for.rev().flat_map(|h| h.rsplit(',')) {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip.to_canonical();
                if !is_trusted(client) {
                    break;
                }
            }
            // A malformed hop ends the chain we can believe: keep the last trusted one.
            Err(_) => break,
        }
    }
    Some(client)
}

/// The resolved client address, if the connection has one.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    pub fn for_request(req: &HttpRequest) -> Self {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.trusted_proxies.as_slice())
            .unwrap_or(&[]);
        let peer = req.peer_addr().map(|a| a.ip());
        if trusted.is_empty() {
            return ClientIp(peer.map(|ip| ip.to_canonical()));
        }
        let headers = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>();
        ClientIp(resolve(peer, headers.into_iter(), trusted))
    }

    pub fn text(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::for_request(req)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let got = resolve(Some(ip("198.51.100.7")), ["203.0.113.1"].into_iter(), &[]);
        assert_eq!(got, Some(ip("198.51.100.7")));
    }

    #[test]
    fn a_trusted_proxy_gives_the_right_most_untrusted_hop() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let got = resolve(
            Some(ip("10.0.0.2")),
            ["203.0.113.1, 198.51.100.9", "10.0.0.5"].into_iter(),
            &trusted,
        );
        assert_eq!(got, Some(ip("198.51.100.9")));
    }

    #[test]
    fn mapped_ipv4_peers_are_ipv4() {
        assert_eq!(
            resolve(Some(ip("::ffff:192.0.2.1")), std::iter::empty(), &[]),
            Some(ip("192.0.2.1"))
        );
    }
}
