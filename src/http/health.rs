//! Liveness, readiness and the API description.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;

/// The OpenAPI document, compiled in so the served spec always matches the binary.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// `GET /readyz`: rules are loaded and decisions can be served.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let rules = state.rules.load();
    HttpResponse::Ok().json(json!({
        "status": "ready",
        "rules_version": rules.version,
        "segments": rules.segments.len(),
        "slots": rules.slots.len(),
    }))
}

/// `GET /openapi.yaml`
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/yaml").body(OPENAPI_YAML)
}
