//! The HTTP layer: thin handlers that parse input into domain types and serialise results.

pub mod admin;
pub mod browser;
pub mod edge;
pub mod error;
pub mod ofrep;
pub mod public;
pub mod routes;
pub mod rtb;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use actix_web::web;
use arc_swap::ArcSwap;

use crate::config::Settings;
use crate::domain::consent::{ConsentBook, ConsentPolicy};
use crate::domain::counts::report::Release;
use crate::domain::pageview::preview::PreviewKey;
use crate::domain::privacy::Keyring;
use crate::domain::rules::RuleSet;
use crate::domain::signals::pii::PiiPolicy;
use crate::domain::signals::SignalExtractor;
use crate::engine::audit::AuditTrail;
use crate::engine::consent::choices::{Choices, ChoicesParts};
use crate::engine::consent::position::LogPosition;
use crate::engine::counter::Counts;
use crate::engine::geo::Locator;
use crate::engine::health::StoreHealth;
use crate::engine::ledger::node::Ledger;
use crate::engine::reload::Reloader;
use crate::engine::reports::Reports;
use crate::metrics::Metrics;
use edge::{auth, client, cors, limits, Edge};
use error::ApiError;

/// The state of each area, registered one by one as `web::Data`: a handler takes the areas it
/// uses, never the whole.
pub struct AppState {
    /// What every request's edge reads.
    pub edge: web::Data<Edge>,
    /// What page views, RTB, explain and previews read.
    pub pages: web::Data<Pages>,
    /// The consent use cases.
    pub choices: web::Data<Choices>,
    /// The consent log.
    pub log: web::Data<LogState>,
    /// The admin audit trail.
    pub trail: web::Data<AuditTrail>,
    /// Released report cells.
    pub reports: web::Data<Reports>,
    /// Owns the active rules and replaces them on reload.
    pub reloader: web::Data<Reloader>,
    /// What the record of processing reports besides the rules.
    pub processing: web::Data<ProcessingFacts>,
    /// Health and metrics.
    pub ops: web::Data<Ops>,
}

/// Page views: rules, signals, consent resolution, visitor keys, counting and previews.
pub struct Pages {
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
    /// How far into the consent log the book is (a view naming a receipt waits for it).
    pub position: Arc<LogPosition>,
    /// Aggregate counting.
    pub counts: Arc<Counts>,
    /// k and epsilon for released counts.
    pub release: Release,
    /// `user.data[].name` in RTB answers.
    pub rtb_provider: String,
    /// What to do with personal-looking values.
    pub pii_policy: PiiPolicy,
    /// Signs and checks preview tokens (its own key, shared by every node through the store).
    pub preview: Arc<PreviewKey>,
    /// Client address and country (the same resolver as the edge's).
    pub client: Arc<client::ClientResolver>,
}

/// The consent log's public face and the compliance export.
pub struct LogState {
    /// The log: writer, checkpoints, proofs.
    pub ledger: Arc<Ledger>,
    /// `consent.checkpoint_seconds`: how long until a newer checkpoint (for `Retry-After`).
    pub checkpoint_seconds: u64,
}

/// Readiness and metrics.
pub struct Ops {
    /// Set on SIGTERM: `/readyz` answers 503 while the node keeps serving (`server.drain_seconds`).
    pub draining: Arc<AtomicBool>,
    /// Operational metrics.
    pub metrics: Arc<Metrics>,
    /// Which rule set serves, and whether it is the stored last good one.
    pub reloader: Arc<Reloader>,
    /// Whether the store answers, and its salts.
    pub store: StoreHealth,
    /// Counting state (its flush and release figures).
    pub counts: Arc<Counts>,
    /// Key material (salt days held in memory).
    pub keyring: Arc<Keyring>,
    /// k for the release figures.
    pub release: Release,
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
    /// How far into the log the book is.
    pub position: Arc<LogPosition>,
    /// The admin audit trail.
    pub trail: Arc<AuditTrail>,
    /// What the health and metrics routes ask the store.
    pub store_health: StoreHealth,
    /// The consent log.
    pub ledger: Arc<Ledger>,
    /// Counting state.
    pub counts: Arc<Counts>,
    /// The preview-token key.
    pub preview: Arc<PreviewKey>,
    /// Operational metrics, shared with the background tasks.
    pub metrics: Arc<Metrics>,
    /// Owns the active rules and replaces them on reload.
    pub reloader: Arc<Reloader>,
    /// Released report cells.
    pub reports: Arc<Reports>,
    /// The visitor's country from their address (`geo.mmdb_path`, `geo.builtin`).
    pub locator: Arc<Locator>,
}

impl AppState {
    /// Builds every area from settings (typed and checked at load: nothing here can fail on them)
    /// and the long-lived parts.
    pub fn new(settings: &Settings, parts: Parts) -> AppState {
        let Parts {
            rules,
            keyring,
            book,
            position,
            trail,
            store_health,
            ledger,
            counts,
            preview,
            metrics,
            reloader,
            reports,
            locator,
        } = parts;
        let client = Arc::new(client::ClientResolver::new(
            settings.server.trusted_proxies.clone(),
            settings.server.client_ip_header.clone(),
            settings.geo.country_header.clone(),
            locator,
        ));
        let release = Release {
            k: settings.privacy.k,
            epsilon: settings.privacy.epsilon,
        };
        let choices = Choices::new(ChoicesParts {
            keyring: Arc::clone(&keyring),
            book: Arc::clone(&book),
            position: Arc::clone(&position),
            ledger: Arc::clone(&ledger),
            trail: Arc::clone(&trail),
            counts: Arc::clone(&counts),
            metrics: Arc::clone(&metrics),
            sources: settings.consent.sources.clone(),
            policy_versions: settings.consent.policy_versions.clone(),
        });
        AppState {
            edge: web::Data::new(Edge {
                tokens: auth::Tokens::new(&settings.auth),
                client: Arc::clone(&client),
                allowed_origins: settings.cors.allowed_origins.iter().map(|o| o.to_string()).collect(),
                limits: Arc::new(limits::Limits::new(&settings.limits)),
                max_body_bytes: settings.server.max_body_bytes,
                body_timeout: std::time::Duration::from_secs(settings.server.body_timeout_seconds),
                metrics: Arc::clone(&metrics),
            }),
            pages: web::Data::new(Pages {
                rules,
                extractor: settings.signal_extractor(),
                consent: settings.consent_policy(),
                keyring: Arc::clone(&keyring),
                book,
                position,
                counts: Arc::clone(&counts),
                release,
                rtb_provider: settings.rtb.provider_name.clone(),
                pii_policy: settings.privacy.pii_policy,
                preview,
                client,
            }),
            choices: web::Data::new(choices),
            log: web::Data::new(LogState {
                ledger,
                checkpoint_seconds: settings.consent.checkpoint_seconds,
            }),
            trail: web::Data::from(trail),
            reports: web::Data::from(reports),
            reloader: web::Data::from(Arc::clone(&reloader)),
            processing: web::Data::new(ProcessingFacts {
                controller: settings.controller.clone(),
                retention_days: settings.privacy.retention_days,
                opt_in_countries: settings.consent.opt_in_countries.clone(),
                store_kind: settings.store.url.kind().as_str(),
            }),
            ops: web::Data::new(Ops {
                draining: Arc::new(AtomicBool::new(false)),
                metrics,
                reloader,
                store: store_health,
                counts,
                keyring,
                release,
            }),
        }
    }

    /// Registers every area's state with an app or a scope.
    pub fn register(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.edge.clone())
            .app_data(self.pages.clone())
            .app_data(self.choices.clone())
            .app_data(self.log.clone())
            .app_data(self.trail.clone())
            .app_data(self.reports.clone())
            .app_data(self.reloader.clone())
            .app_data(self.processing.clone())
            .app_data(self.ops.clone());
    }
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// The token-free `server.metrics_addr` listener: `GET /metrics` and nothing else.
pub fn configure_metrics_only(cfg: &mut web::ServiceConfig, state: &AppState) {
    cfg.app_data(state.edge.clone()).app_data(state.ops.clone());
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

/// Registers every area's state and every route; the browser routes answer pages on `browser`
/// origins (CORS).
pub fn configure(cfg: &mut web::ServiceConfig, state: &AppState, browser: &cors::BrowserOrigins) {
    state.register(cfg);
    routes::register(cfg, browser);
    cfg.default_service(web::to(not_found));
}
