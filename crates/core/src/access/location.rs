//! Named locations, compiled: IP ranges or countries.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::context::Network;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationMatcher {
    IpRanges(Vec<IpNet>),
    Countries {
        /// Uppercase ISO 3166-1 alpha-2 codes.
        codes: Vec<[u8; 2]>,
        include_unknown: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub id: Arc<str>,
    pub trusted: bool,
    pub matcher: LocationMatcher,
}

/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Location {
    /// Whether the request is in this location. A missing IP address is in no IP-range
    /// location; a missing country is in a country location only when the location explicitly
    /// includes unknown countries.
    pub fn contains(&self, net: &Network) -> bool {
        match &self.matcher {
            LocationMatcher::IpRanges(ranges) => net.ip.is_some_and(|ip| {
                let ip = canonical(ip);
                ranges.iter().any(|r| r.contains(&ip))
            }),
            LocationMatcher::Countries {
                codes,
                include_unknown,
            } => match net.country.as_deref() {
                Some(c) => {
                    let b = c.as_bytes();
                    b.len() == 2
                        && codes.iter().any(|k| {
                            k[0] == b[0].to_ascii_uppercase() && k[1] == b[1].to_ascii_uppercase()
                        })
                }
                None => *include_unknown,
            },
        }
    }
}

/// Parses a CIDR range (`203.0.113.0/24`, `2001:db8::/32`); a bare address is a /32 or /128.
pub fn parse_cidr(s: &str) -> Option<IpNet> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Some(net.trunc());
    }
    s.parse::<IpAddr>()
        .ok()
        .map(|ip| IpNet::from(canonical(ip)))
}

/// An uppercase ISO 3166-1 alpha-2 shaped code.
pub fn parse_country(s: &str) -> Option<[u8; 2]> {
    match s.as_bytes() {
        [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Some([*a, *b]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(ip: Option<&str>, country: Option<&str>) -> Network {
        Network {
            ip: ip.map(|s| s.parse().unwrap()),
            country: country.map(str::to_string),
        }
    }

    #[test]
    fn ip_ranges() {
        let loc = Location {
            id: Arc::from("hq"),
            trusted: true,
            matcher: LocationMatcher::IpRanges(vec![
                parse_cidr("10.1.0.0/16").unwrap(),
                parse_cidr("2001:db8::/32").unwrap(),
                parse_cidr("192.0.2.7").unwrap(),
            ]),
        };
        assert!(loc.contains(&net(Some("10.1.2.3"), None)));
        assert!(loc.contains(&net(Some("::ffff:10.1.2.3"), None)));
        assert!(loc.contains(&net(Some("2001:db8:1::5"), None)));
        assert!(loc.contains(&net(Some("192.0.2.7"), None)));
        assert!(!loc.contains(&net(Some("192.0.2.8"), None)));
        assert!(!loc.contains(&net(Some("10.2.0.1"), None)));
        assert!(!loc.contains(&net(None, Some("FR"))));
    }

    #[test]
    fn countries() {
        let mut loc = Location {
            id: Arc::from("eu"),
            trusted: false,
            matcher: LocationMatcher::Countries {
                codes: vec![*b"FR", *b"DE"],
                include_unknown: false,
            },
        };
        assert!(loc.contains(&net(None, Some("FR"))));
        assert!(loc.contains(&net(None, Some("de"))));
        assert!(!loc.contains(&net(None, Some("US"))));
        assert!(!loc.contains(&net(Some("10.0.0.1"), None)));
        loc.matcher = LocationMatcher::Countries {
            codes: vec![*b"FR"],
            include_unknown: true,
        };
        assert!(loc.contains(&net(Some("10.0.0.1"), None)));
    }

    #[test]
    fn parsing() {
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("10.0.0/8").is_none());
        assert!(parse_cidr("fe80::/129").is_none());
        assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_country("FR"), Some(*b"FR"));
        assert_eq!(parse_country("fr"), None);
        assert_eq!(parse_country("FRA"), None);
        assert_eq!(parse_country("F1"), None);
    }
}
