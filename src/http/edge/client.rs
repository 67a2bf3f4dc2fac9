//! Who is calling: the client address and country, believed from forwarded headers only when the TCP
//! peer is a trusted proxy. Anyone can send `X-Forwarded-For` or `CF-IPCountry`; only our own proxy's
//! copy means anything. Without a country header, a browser's address may be looked up
//! (`engine::geo`); a server's never is.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderName};
use actix_web::HttpRequest;

use crate::domain::privacy::cidr::Cidr;
use crate::domain::signals::Located;
use crate::engine::geo::Locator;

/// The proxies whose forwarded headers are believed, and which headers those are.
#[derive(Debug, Clone)]
pub struct ClientResolver {
    /// `server.trusted_proxies`
    trusted: Vec<Cidr>,
    /// `server.client_ip_header`, if set.
    ip_header: Option<HeaderName>,
    /// `geo.country_header`
    country_header: HeaderName,
    /// `geo.mmdb_path` and `geo.builtin`.
    locator: Arc<Locator>,
}

/// What the edge knows of a visitor's country: the trusted header's value, or else the country of
/// the address.
#[derive(Debug, Clone, Copy, Default)]
pub struct VisitorCountry<'r> {
    /// The country header from a trusted proxy (`None` when absent, or sent twice differently).
    pub header: Option<&'r str>,
    /// The looked-up country: only when no country header was sent, only for a browser.
    pub located: Option<Located>,
}

impl ClientResolver {
    /// A resolver over parsed settings and the loaded geo sources.
    pub fn new(
        trusted: Vec<Cidr>,
        ip_header: Option<HeaderName>,
        country_header: HeaderName,
        locator: Arc<Locator>,
    ) -> Self {
        ClientResolver {
            trusted,
            ip_header,
            country_header,
            locator,
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

impl ClientResolver {
    /// The visitor's country for a page view from `client`: the trusted header when a trusted proxy
    /// sent one (even one saying unknown), else, for a browser's request only, the configured lookup.
    /// A server calling with a token, or without `Origin`, may sit in another country than its
    /// visitors: its address says nothing about them, so it is never looked up.
    pub fn visitor_country<'r>(&self, req: &'r HttpRequest, client: Option<IpAddr>) -> VisitorCountry<'r> {
        let sent = self.peer_is_trusted(req) && req.headers().contains_key(&self.country_header);
        if sent {
            return VisitorCountry {
                header: self.country(req),
                located: None,
            };
        }
        let located = client
            .filter(|_| self.locator.is_on() && from_browser(req))
            .and_then(|ip| self.locator.locate(ip));
        VisitorCountry { header: None, located }
    }

    /// The configured geo sources (for `explain`'s `address`).
    pub fn locator(&self) -> &Locator {
        &self.locator
    }
}

/// Whether a request is a visitor's browser: it carries `Origin` (browsers send it on every POST)
/// and no token.
pub fn from_browser(req: &HttpRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::ORIGIN) && !headers.contains_key(header::AUTHORIZATION)
}

/// One `X-Forwarded-For` entry: an address, maybe with a port or in brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip().to_canonical())
}
