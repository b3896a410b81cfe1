//! Allowed networks: parsing an admin's list once, storing it in a canonical form, and
//! matching a client address against it.

use ipnetwork::IpNetwork;
use std::net::IpAddr;

/// The networks a token may be used from; none means any address. Parsed once, with host
/// bits cleared and IPv4-mapped IPv6 made IPv4, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedNetworks(Vec<IpNetwork>);

impl AllowedNetworks {
    /// An admin's list: one entry per line (commas also accepted), duplicates and blanks
    /// dropped.
    pub fn parse(text: &str) -> Result<Self, ListError> {
        parse_list(text).map(Self)
    }

    /// The list as stored (`canonical`). One unreadable entry fails it all: dropping a
    /// rule would widen what the token allows.
    pub fn from_stored<'a>(
        stored: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ipnetwork::IpNetworkError> {
        stored
            .into_iter()
            .map(parse_network)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// How the list is stored and shown, one entry each.
    pub fn canonical(&self) -> Vec<String> {
        self.0.iter().map(display).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `address` may use the token (none known: only if any address may).
    pub fn allows(&self, address: Option<IpAddr>) -> bool {
        match address {
            Some(address) => allows(&self.0, address),
            None => self.0.is_empty(),
        }
    }

    /// The networks broader than an IPv4 /8 or an IPv6 /32, which the admin must confirm.
    pub fn broad(&self) -> Vec<IpNetwork> {
        broad(&self.0)
    }
}

/// "any", or the networks as the audit log and e-mails name them.
impl std::fmt::Display for AllowedNetworks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("any");
        }
        f.write_str(&self.canonical().join(", "))
    }
}

pub const MAX_NETWORKS: usize = 100;

/// One address or CIDR network, normalised: host bits cleared, IPv4-mapped IPv6 made IPv4.
pub fn parse_network(text: &str) -> Result<IpNetwork, ipnetwork::IpNetworkError> {
    let network = if text.contains('/') {
        text.parse::<IpNetwork>()?
    } else {
        let address: IpAddr = text
            .parse()
            .map_err(|_| ipnetwork::IpNetworkError::InvalidAddr(text.to_string()))?;
        IpNetwork::from(address)
    };
    Ok(normalise(network))
}

fn normalise(network: IpNetwork) -> IpNetwork {
    if let IpNetwork::V6(v6) = network {
        if let (Some(v4), true) = (v6.ip().to_ipv4_mapped(), v6.prefix() >= 96) {
            return IpNetwork::new(IpAddr::V4(v4), v6.prefix() - 96)
                .map(normalise)
                .unwrap_or(network);
        }
    }
    IpNetwork::new(network.network(), network.prefix()).unwrap_or(network)
}

/// How a network is stored and shown: a single host without its prefix length.
pub fn display(network: &IpNetwork) -> String {
    let host_prefix = match network {
        IpNetwork::V4(_) => 32,
        IpNetwork::V6(_) => 128,
    };
    if network.prefix() == host_prefix {
        network.ip().to_string()
    } else {
        network.to_string()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ListError {
    Invalid(Vec<String>),
    TooMany(usize),
    /// A /0: a typo (`127.0.0.2/0`) would otherwise allow every address without a word.
    Everything(String),
}

/// The widest networks saved without a confirmation: an IPv4 /8, an IPv6 /32.
const NARROWEST_UNCONFIRMED_V4: u8 = 8;
const NARROWEST_UNCONFIRMED_V6: u8 = 32;

fn broad(networks: &[IpNetwork]) -> Vec<IpNetwork> {
    networks
        .iter()
        .filter(|n| match n {
            IpNetwork::V4(v4) => v4.prefix() < NARROWEST_UNCONFIRMED_V4,
            IpNetwork::V6(v6) => v6.prefix() < NARROWEST_UNCONFIRMED_V6,
        })
        .copied()
        .collect()
}

impl std::fmt::Display for ListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListError::Invalid(entries) => {
                let shown: Vec<_> = entries
                    .iter()
                    .take(3)
                    .map(|e| format!("\u{201c}{e}\u{201d}"))
                    .collect();
                let more = entries.len().saturating_sub(3);
                write!(f, "Not an IP address or CIDR network: {}", shown.join(", "))?;
                if more > 0 {
                    write!(f, " and {more} more")?;
                }
                Ok(())
            }
            ListError::TooMany(n) => write!(
                f,
                "At most {MAX_NETWORKS} networks are allowed; you entered {n}."
            ),
            ListError::Everything(entry) => write!(
                f,
                "\u{201c}{entry}\u{201d} allows every address. Leave the field empty to allow any address."
            ),
        }
    }
}

fn parse_list(text: &str) -> Result<Vec<IpNetwork>, ListError> {
    let entries: Vec<&str> = text
        .split(['\n', ',', '\r'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.len() > MAX_NETWORKS {
        return Err(ListError::TooMany(entries.len()));
    }
    let mut networks: Vec<IpNetwork> = Vec::with_capacity(entries.len());
    let mut invalid = Vec::new();
    for entry in entries {
        match parse_network(entry) {
            Ok(network) if network.prefix() == 0 => {
                return Err(ListError::Everything(entry.chars().take(60).collect()))
            }
            Ok(network) if !networks.contains(&network) => networks.push(network),
            Ok(_) => {}
            Err(_) => invalid.push(entry.chars().take(60).collect()),
        }
    }
    if invalid.is_empty() {
        Ok(networks)
    } else {
        Err(ListError::Invalid(invalid))
    }
}

fn allows(networks: &[IpNetwork], address: IpAddr) -> bool {
    let address = address.to_canonical();
    networks.is_empty() || networks.iter().any(|n| n.contains(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_networks_are_normalised() {
        let list = parse_list("10.1.2.3/8\n2001:db8::1, 203.0.113.7\n::ffff:192.0.2.1\n10.0.0.0/8")
            .unwrap();
        let shown: Vec<_> = list.iter().map(display).collect();
        assert_eq!(
            shown,
            ["10.0.0.0/8", "2001:db8::1", "203.0.113.7", "192.0.2.1"]
        );
    }

    #[test]
    fn invalid_entries_are_all_reported() {
        let error = parse_list("10.0.0.0/33\n300.1.1.1\nfe80::/129\n1.2.3.4").unwrap_err();
        assert_eq!(
            error,
            ListError::Invalid(vec![
                "10.0.0.0/33".into(),
                "300.1.1.1".into(),
                "fe80::/129".into()
            ])
        );
    }

    #[test]
    fn a_zero_prefix_is_refused_and_broad_ones_are_flagged() {
        assert_eq!(
            parse_list("10.0.0.1\n127.0.0.2/0"),
            Err(ListError::Everything("127.0.0.2/0".into()))
        );
        assert!(parse_list("::/0").is_err());
        let list = parse_list("10.0.0.0/8\n12.0.0.0/7\n2001:db8::/32\n2001::/31").unwrap();
        let flagged: Vec<_> = broad(&list).iter().map(display).collect();
        assert_eq!(flagged, ["12.0.0.0/7", "2001::/31"]);
    }

    #[test]
    fn more_than_a_hundred_entries_are_refused() {
        let text: Vec<String> = (0..101)
            .map(|i| format!("10.0.{}.{}", i / 250, i % 250))
            .collect();
        assert_eq!(parse_list(&text.join("\n")), Err(ListError::TooMany(101)));
        assert_eq!(parse_list(&text[..100].join(",")).unwrap().len(), 100);
    }

    #[test]
    fn matching_handles_ipv6_and_mapped_ipv4() {
        let list = parse_list("192.0.2.0/24\n2001:db8::/32").unwrap();
        assert!(allows(&list, "192.0.2.9".parse().unwrap()));
        assert!(allows(&list, "::ffff:192.0.2.9".parse().unwrap()));
        assert!(allows(&list, "2001:db8:1::5".parse().unwrap()));
        assert!(!allows(&list, "198.51.100.1".parse().unwrap()));
        assert!(allows(&[], "198.51.100.1".parse().unwrap()));
    }
}
