//! Liveness, readiness and the API description.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::http::Ops;

/// The OpenAPI document, compiled in so the served spec always matches the binary.
pub const OPENAPI_YAML: &str = include_str!("../../../openapi.yaml");

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// `GET /readyz`'s answer while draining.
#[derive(Serialize)]
struct Draining<'a> {
    status: &'static str,
    rules_version: &'a str,
}

/// `GET /readyz`'s answer.
#[derive(Serialize)]
struct Readiness<'a> {
    status: &'static str,
    rules_version: &'a str,
    segments: usize,
    slots: usize,
    store: &'static str,
    rules: &'static str,
}

/// `GET /readyz`: rules are loaded and the store answers. Decisions are served from memory even
/// when the store is down, so 503 here means "consent writes will fail", not "stop sending traffic".
/// A node serving the stored last good rule set (its directory does not load) is still ready:
/// `rules` says `last_good` (docs/decisions/011-last-good-rules.md).
///
/// After SIGTERM, for `server.drain_seconds`, it answers 503 `draining` (without asking the store)
/// while every other route keeps serving, so a load balancer stops sending traffic before the
/// listener closes.
pub async fn readyz(state: web::Data<Ops>) -> HttpResponse {
    let status = state.reloader.status();
    let rules = &status.rules;
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return HttpResponse::ServiceUnavailable().json(Draining {
            status: "draining",
            rules_version: &rules.version,
        });
    }
    let store = state.store.ping().await;
    if store.is_err() {
        state.metrics.store_error("ping");
    }
    let body = Readiness {
        status: if store.is_ok() { "ready" } else { "degraded" },
        rules_version: &rules.version,
        segments: rules.segments.len(),
        slots: rules.slots.len(),
        store: if store.is_ok() { "ok" } else { "unavailable" },
        rules: if status.last_good.is_some() { "last_good" } else { "ok" },
    };
    if store.is_ok() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /openapi.yaml`
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/yaml").body(OPENAPI_YAML)
}
