//! Who is calling: the client address and country, believed from forwarded headers only when the TCP
//! peer is a trusted proxy. Anyone can send `X-Forwarded-For` or `CF-IPCountry`; only our own proxy's
//! copy means anything.

use std::net::IpAddr;

use actix_web::http::header::HeaderName;
use actix_web::HttpRequest;

use crate::domain::privacy::cidr::Cidr;

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
