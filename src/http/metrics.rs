//! `GET /metrics`: the Prometheus/OpenMetrics exposition, for a token with the `ops` scope.

use actix_web::{web, HttpResponse};

use super::AppState;

/// `GET /metrics`
pub async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    state
        .metrics
        .rtb_release_set
        .set(state.counts.released_segments(state.release.k) as i64);
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}
