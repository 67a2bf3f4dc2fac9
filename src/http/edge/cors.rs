//! CORS for the routes a web page calls (`cors.allowed_origins`); admin routes never answer a browser.

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::http::{header, Method};

use crate::config::CorsSettings;

/// Seconds a browser may reuse a preflight answer: one preflight per origin every ten minutes, not
/// one per page view.
pub const PREFLIGHT_MAX_AGE_SECONDS: usize = 600;

/// An entry of `cors.allowed_origins` that is not an exact http(s) origin.
#[derive(Debug, thiserror::Error)]
#[error(
    "configuration: cors.allowed_origins: {origin:?} is not an origin: write scheme://host[:port] \
     (http or https, lowercase, no path or trailing slash)"
)]
pub struct CorsConfigError {
    /// The configured entry (configuration, not request input).
    pub origin: String,
}

/// The exact origins whose pages may call the browser routes, checked once at startup.
#[derive(Debug, Clone, Default)]
pub struct BrowserOrigins(Arc<[String]>);

impl BrowserOrigins {
    /// Parses `[cors]`; each entry must be its own serialised origin, so a typo such as a trailing
    /// slash is refused at startup instead of silently never matching a browser's `Origin`.
    pub fn parse(settings: &CorsSettings) -> Result<BrowserOrigins, CorsConfigError> {
        let mut out = Vec::with_capacity(settings.allowed_origins.len());
        for raw in &settings.allowed_origins {
            let origin = raw.trim();
            let exact = url::Url::parse(origin)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .is_some_and(|u| u.origin().ascii_serialization() == origin);
            if !exact {
                return Err(CorsConfigError { origin: raw.clone() });
            }
            out.push(origin.to_string());
        }
        Ok(BrowserOrigins(out.into()))
    }

    /// Whether `origin` (an `Origin` header value) is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o == origin)
    }

    /// The middleware for one browser route. Built per worker (actix-cors is not `Send`).
    ///
    /// A request from another origin is not blocked here: it gets no `Access-Control-Allow-Origin`,
    /// so the browser refuses the answer to the page; a disallowed preflight is refused outright.
    pub fn layer(&self) -> Cors {
        self.0.iter().fold(
            Cors::default()
                .allowed_methods([Method::GET, Method::POST])
                .allowed_headers([header::CONTENT_TYPE])
                .max_age(PREFLIGHT_MAX_AGE_SECONDS),
            |cors, origin| cors.allowed_origin(origin),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(origins: &[&str]) -> Result<BrowserOrigins, CorsConfigError> {
        BrowserOrigins::parse(&CorsSettings {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn exact_origins_are_accepted() {
        let o = parse(&["https://bank.example", "http://127.0.0.1:8081"]).unwrap();
        assert!(o.allows("https://bank.example"));
        assert!(o.allows("http://127.0.0.1:8081"));
        assert!(!o.allows("https://evil.example"));
        assert!(!o.allows("http://bank.example"));
    }

    #[test]
    fn anything_but_an_exact_origin_is_refused_at_startup() {
        for bad in [
            "https://bank.example/",
            "https://bank.example/path",
            "https://Bank.example",
            "https://bank.example:443",
            "*",
            "bank.example",
            "ftp://bank.example",
            "https://user@bank.example",
            "null",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
    }
}
