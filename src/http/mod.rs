//! The HTTP layer: thin handlers that parse input into domain types and serialise results.

pub mod admin;
pub mod browser;
pub mod edge;
pub mod error;
pub mod public;
pub mod routes;
pub mod rtb;

use std::sync::Arc;

use actix_web::web;
use arc_swap::ArcSwap;

use crate::config::Settings;
use crate::domain::signals::pii::PiiPolicy;
use crate::domain::consent::{ConsentBook, ConsentPolicy};
use crate::domain::counts::report::Release;
use crate::engine::counter::Counts;
use crate::domain::privacy::Keyring;
use crate::domain::rules::RuleSet;
use crate::domain::signals::SignalExtractor;
use crate::store::Store;
use edge::{auth, client, cors, limits};
use error::ApiError;

/// Shared, read-mostly state every handler sees.
pub struct AppState {
    /// The active rules; swapped whole on reload, read without locks.
    pub rules: Arc<ArcSwap<RuleSet>>,
    /// Request → signals.
    pub extractor: SignalExtractor,
    /// Jurisdiction defaults and consent resolution.
    pub consent: ConsentPolicy,
    /// Secret and daily salts for visitor keys.
    pub keyring: Arc<Keyring>,
    /// Explicit consent records and opt-outs, in memory.
    pub book: Arc<ConsentBook>,
    /// Durable storage (never touched by `/v1/decide`).
    pub store: Arc<dyn Store>,
    /// The consent log: writer, checkpoints, proofs.
    pub ledger: Arc<crate::engine::ledger::node::Ledger>,
    /// `consent.checkpoint_seconds`: how long until a newer checkpoint (for `Retry-After`).
    pub checkpoint_seconds: u64,
    /// Admin tokens.
    pub tokens: auth::Tokens,
    /// Aggregate counting.
    pub counts: Arc<Counts>,
    /// k and epsilon for released counts.
    pub release: Release,
    /// `user.data[].name` in RTB answers.
    pub rtb_provider: String,
    /// Client address and country, from forwarded headers only behind a trusted proxy.
    pub client: client::ClientResolver,
    /// Origins (besides personify's own) allowed to call the browser routes.
    pub allowed_origins: Vec<String>,
    /// Per-client rate limits.
    pub limits: Arc<limits::Limits>,
    /// The closed set of consent `source` values.
    pub consent_sources: Vec<String>,
    /// The privacy policy versions a consent may name.
    pub policy_versions: Vec<String>,
    /// Body size limit.
    pub max_body_bytes: usize,
    /// Time allowed to receive a whole body.
    pub body_timeout: std::time::Duration,
    /// What to do with personal-looking values.
    pub pii_policy: PiiPolicy,
    /// What the record of processing reports besides the rules.
    pub processing: ProcessingFacts,
    /// Operational metrics (no personal labels, no per-segment counts).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Signs and checks preview tokens (its own key, shared by every node through the store).
    pub preview: Arc<crate::domain::pageview::preview::PreviewKey>,
    /// Owns the active rules (`rules` is its lock-free view) and replaces them on reload.
    pub reloader: Arc<crate::engine::reload::Reloader>,
    /// Set on SIGTERM: `/readyz` answers 503 while the node keeps serving (`server.drain_seconds`).
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

/// Configuration facts the record of processing reports.
#[derive(Debug, Clone)]
pub struct ProcessingFacts {
    /// The controller.
    pub controller: crate::domain::compliance::Controller,
    /// `privacy.retention_days`.
    pub retention_days: u32,
    /// Countries with the opt-in default.
    pub opt_in_countries: Vec<String>,
    /// `sqlite` or `postgres`.
    pub store_kind: &'static str,
}

/// The long-lived parts the state is built around.
pub struct Parts {
    /// Active rules.
    pub rules: Arc<ArcSwap<RuleSet>>,
    /// Key material.
    pub keyring: Arc<Keyring>,
    /// Consent records in memory.
    pub book: Arc<ConsentBook>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The consent log.
    pub ledger: Arc<crate::engine::ledger::node::Ledger>,
    /// Counting state.
    pub counts: Arc<Counts>,
    /// The preview-token key.
    pub preview: Arc<crate::domain::pageview::preview::PreviewKey>,
    /// Operational metrics, shared with the background tasks.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Owns the active rules and replaces them on reload.
    pub reloader: Arc<crate::engine::reload::Reloader>,
}

impl AppState {
    /// Builds the state from settings (typed and checked at load: nothing here can fail on them) and
    /// the long-lived parts.
    pub fn new(settings: &Settings, parts: Parts) -> AppState {
        let Parts {
            rules,
            keyring,
            book,
            store,
            ledger,
            counts,
            preview,
            metrics,
            reloader,
        } = parts;
        AppState {
            rules,
            extractor: settings.signal_extractor(),
            consent: settings.consent_policy(),
            keyring,
            book,
            store,
            ledger,
            checkpoint_seconds: settings.consent.checkpoint_seconds,
            tokens: auth::Tokens::new(&settings.auth),
            counts,
            release: Release {
                k: settings.privacy.k,
                epsilon: settings.privacy.epsilon,
            },
            rtb_provider: settings.rtb.provider_name.clone(),
            client: client::ClientResolver::new(
                settings.server.trusted_proxies.clone(),
                settings.server.client_ip_header.clone(),
                settings.geo.country_header.clone(),
            ),
            allowed_origins: settings.cors.allowed_origins.iter().map(|o| o.to_string()).collect(),
            limits: Arc::new(limits::Limits::new(&settings.limits)),
            consent_sources: settings.consent.sources.clone(),
            policy_versions: settings.consent.policy_versions.clone(),
            max_body_bytes: settings.server.max_body_bytes,
            body_timeout: std::time::Duration::from_secs(settings.server.body_timeout_seconds),
            pii_policy: settings.privacy.pii_policy,
            processing: ProcessingFacts {
                controller: settings.controller.clone(),
                retention_days: settings.privacy.retention_days,
                opt_in_countries: settings.consent.opt_in_countries.clone(),
                store_kind: settings.store.url.kind().as_str(),
            },
            metrics,
            preview,
            reloader,
            draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// The token-free `server.metrics_addr` listener: `GET /metrics` and nothing else.
pub fn configure_metrics_only(cfg: &mut web::ServiceConfig) {
    let index = routes::ROUTES.iter().position(|r| r.path == "/metrics");
    let resource = web::resource("/metrics").route(web::get().to(public::metrics::scrape));
    match index {
        Some(index) => cfg.service(resource.app_data(edge::logging::RouteTag {
            index,
            pattern: "/metrics",
        })),
        None => cfg.service(resource),
    };
    cfg.default_service(web::to(not_found));
}

/// Registers every route; the browser routes answer pages on `browser` origins (CORS).
pub fn configure(cfg: &mut web::ServiceConfig, browser: &cors::BrowserOrigins) {
    routes::register(cfg, browser);
    cfg.default_service(web::to(not_found));
}
