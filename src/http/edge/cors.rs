//! CORS for the routes a web page calls (`cors.allowed_origins`); admin routes never answer a browser.

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::http::{header, Method};

use crate::config::CorsSettings;

/// Seconds a browser may reuse a preflight answer: one preflight per origin every ten minutes, not
/// one per page view.
pub const PREFLIGHT_MAX_AGE_SECONDS: usize = 600;

/// The exact origins whose pages may call the browser routes (parsed and normalised at load).
#[derive(Debug, Clone, Default)]
pub struct BrowserOrigins(Arc<[String]>);

impl BrowserOrigins {
    /// The origins of `[cors]`, each already its own serialised origin (a typo such as a path is
    /// refused when the configuration loads, not silently never matched).
    pub fn new(settings: &CorsSettings) -> BrowserOrigins {
        BrowserOrigins(
            settings
                .allowed_origins
                .iter()
                .map(|o| o.as_str().to_string())
                .collect(),
        )
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

    /// The middleware for the OFREP routes: as [`BrowserOrigins::layer`], and OpenFeature's web
    /// provider may send `If-None-Match` and read the bulk answer's `ETag`.
    pub fn ofrep_layer(&self) -> Cors {
        self.0.iter().fold(
            Cors::default()
                .allowed_methods([Method::POST])
                .allowed_headers([header::CONTENT_TYPE, header::IF_NONE_MATCH])
                .expose_headers([header::ETAG])
                .max_age(PREFLIGHT_MAX_AGE_SECONDS),
            |cors, origin| cors.allowed_origin(origin),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_origins_are_allowed_and_nothing_else() {
        let parsed = ["https://bank.example", "http://127.0.0.1:8081"].map(|o| o.parse().unwrap());
        let o = BrowserOrigins::new(&CorsSettings {
            allowed_origins: parsed.to_vec(),
        });
        assert!(o.allows("https://bank.example"));
        assert!(o.allows("http://127.0.0.1:8081"));
        assert!(!o.allows("https://evil.example"));
        assert!(!o.allows("http://bank.example"));
    }
}
