//! The edge: what every request passes before a handler — body reading and unknown keys, the gate
//! (Origin check and rate limit for browser routes, token scopes for the rest), CORS, the client
//! address behind trusted proxies, and the request log.

pub mod auth;
pub mod body;
pub mod client;
pub mod cors;
pub mod gate;
pub mod limits;
pub mod logging;
pub mod origin;
pub mod unknown_fields;

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;

/// What the edge reads for every request: tokens, the client resolver, allowed origins, rate limits,
/// body limits, and the metrics the request log records into.
pub struct Edge {
    /// Admin tokens.
    pub tokens: auth::Tokens,
    /// Client address and country, from forwarded headers only behind a trusted proxy.
    pub client: Arc<client::ClientResolver>,
    /// Origins (besides personify's own) allowed to call the browser routes.
    pub allowed_origins: Vec<String>,
    /// Per-client rate limits.
    pub limits: Arc<limits::Limits>,
    /// Body size limit.
    pub max_body_bytes: usize,
    /// Time allowed to receive a whole body.
    pub body_timeout: Duration,
    /// Operational metrics (no personal labels, no per-segment counts).
    pub metrics: Arc<Metrics>,
}
