//! Who is calling: the client address and country, believed from forwarded headers only when the TCP
//! peer is a trusted proxy. Anyone can send `X-Forwarded-For` or `CF-IPCountry`; only our own proxy's
//! copy means anything.

use std::net::IpAddr;

use actix_web::http::header::HeaderName;
use actix_web::HttpRequest;

/// An IP network in CIDR notation (`10.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix` (a bare address means a single host).
    pub fn parse(raw: &str) -> Option<Cidr> {
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (raw.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr {
            addr: addr.to_canonical(),
            prefix,
        })
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), u128::from(u32::from(ip)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => masked(u128::from(net), u128::from(ip), 128, self.prefix),
            _ => false,
        }
    }
}

fn masked(net: u128, ip: u128, bits: u8, prefix: u8) -> bool {
    let shift = u32::from(bits - prefix);
    net.checked_shr(shift).unwrap_or(0) == ip.checked_shr(shift).unwrap_or(0)
}

/// The proxies whose forwarded headers are believed, and which headers those are.
#[derive(Debug, Clone)]
pub struct ClientResolver {
    /// `server.trusted_proxies`
    trusted: Vec<Cidr>,
    /// `server.client_ip_header`, if set.
    ip_header: Option<HeaderName>,
    /// `geo.country_header`
    country_header: HeaderName,
}

impl ClientResolver {
    /// A resolver over parsed settings.
    pub fn new(trusted: Vec<Cidr>, ip_header: Option<HeaderName>, country_header: HeaderName) -> Self {
        ClientResolver {
            trusted,
            ip_header,
            country_header,
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|c| c.contains(ip))
    }

    /// Whether the TCP peer is a trusted proxy.
    pub fn peer_is_trusted(&self, req: &HttpRequest) -> bool {
        req.peer_addr().is_some_and(|a| self.is_trusted(a.ip()))
    }

    /// The client address: from the forwarded header when a trusted proxy sent it (the right-most
    /// address that is not itself a trusted proxy), otherwise the TCP peer.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr().map(|a| a.ip().to_canonical());
        let Some(header) = self.ip_header.as_ref().filter(|_| self.peer_is_trusted(req)) else {
            return peer;
        };
        // Each proxy appends the address it saw; entries left of the last untrusted one are whatever
        // the client wrote, so they are never read.
        let mut hops: Vec<&str> = Vec::new();
        for value in req.headers().get_all(header) {
            let Ok(text) = value.to_str() else { return None };
            hops.extend(text.split(',').map(str::trim).filter(|h| !h.is_empty()));
        }
        if hops.is_empty() {
            return peer;
        }
        let mut last = None;
        for hop in hops.iter().rev() {
            let ip = parse_hop(hop)?;
            if !self.is_trusted(ip) {
                return Some(ip);
            }
            last = Some(ip);
        }
        last
    }

    /// The country header's value, only from a trusted proxy; sent twice with different values, it
    /// counts as unknown (the strictest default).
    pub fn country<'r>(&self, req: &'r HttpRequest) -> Option<&'r str> {
        if !self.peer_is_trusted(req) {
            return None;
        }
        let mut values = req
            .headers()
            .get_all(&self.country_header)
            .map(|v| v.to_str().ok().map(str::trim));
        let first = values.next()??;
        values
            .all(|v| v.is_some_and(|v| v.eq_ignore_ascii_case(first)))
            .then_some(first)
    }
}

/// One `X-Forwarded-For` entry: an address, maybe with a port or in brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_contain_their_addresses_only() {
        let lo = Cidr::parse("127.0.0.1/32").unwrap();
        assert!(lo.contains("127.0.0.1".parse().unwrap()));
        assert!(lo.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!lo.contains("127.0.0.2".parse().unwrap()));
        let ten = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(ten.contains("10.200.3.4".parse().unwrap()));
        assert!(!ten.contains("11.0.0.1".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("nope/8").is_none());
        assert_eq!(Cidr::parse("::1"), Cidr::parse("::1/128"));
    }
}
