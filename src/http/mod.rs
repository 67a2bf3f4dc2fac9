//! The HTTP layer: thin handlers that parse input into domain types and serialise results.

pub mod body;
pub mod decide;
pub mod error;
pub mod health;
pub mod logging;

use std::sync::Arc;

use actix_web::http::header::HeaderName;
use actix_web::web;
use arc_swap::ArcSwap;

use crate::config::{PiiPolicy, Settings};
use crate::consent::ConsentPolicy;
use crate::privacy::Keyring;
use crate::rules::RuleSet;
use crate::signals::SignalExtractor;
use error::ApiError;

/// Shared, read-mostly state every handler sees.
pub struct AppState {
    /// The active rules; swapped whole on reload, read without locks.
    pub rules: Arc<ArcSwap<RuleSet>>,
    /// Request → signals.
    pub extractor: SignalExtractor,
    /// Jurisdiction defaults and consent resolution.
    pub consent: ConsentPolicy,
    /// Secret and daily salt for visitor keys.
    pub keyring: Keyring,
    /// Header holding the visitor's country.
    pub country_header: HeaderName,
    /// Header holding the client address, when a trusted proxy sets one.
    pub client_ip_header: Option<HeaderName>,
    /// Body size limit.
    pub max_body_bytes: usize,
    /// What to do with personal-looking values.
    pub pii_policy: PiiPolicy,
}

/// A header name from configuration that is not a valid HTTP header name.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {key}: {value:?} is not a valid header name")]
pub struct BadHeaderName {
    key: &'static str,
    value: String,
}

impl AppState {
    /// Builds the state from settings, rules and key material.
    pub fn new(settings: &Settings, rules: Arc<ArcSwap<RuleSet>>, keyring: Keyring) -> Result<AppState, BadHeaderName> {
        let name = |key: &'static str, v: &str| {
            HeaderName::try_from(v.trim().to_ascii_lowercase()).map_err(|_| BadHeaderName {
                key,
                value: v.to_string(),
            })
        };
        let client_ip = settings.server.client_ip_header.trim();
        Ok(AppState {
            rules,
            extractor: SignalExtractor::new(settings),
            consent: ConsentPolicy::new(&settings.consent),
            keyring,
            country_header: name("geo.country_header", &settings.geo.country_header)?,
            client_ip_header: if client_ip.is_empty() {
                None
            } else {
                Some(name("server.client_ip_header", client_ip)?)
            },
            max_body_bytes: settings.server.max_body_bytes,
            pii_policy: settings.privacy.pii_policy,
        })
    }
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(health::healthz))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(health::readyz))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/openapi.yaml")
            .route(web::get().to(health::openapi))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/decide")
            .route(web::post().to(decide::handle))
            .default_service(web::to(method_not_allowed)),
    )
    .default_service(web::to(not_found));
}
