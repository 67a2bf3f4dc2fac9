//! `GET /metrics`: the Prometheus/OpenMetrics exposition, for a token with the `ops` scope (or on
//! the token-free `server.metrics_addr` listener).

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{web, HttpResponse};

use crate::http::Ops;

/// `GET /metrics`
pub async fn scrape(state: web::Data<Ops>) -> HttpResponse {
    let m = &state.metrics;
    m.rtb_release_set
        .set(state.counts.released_segments(state.release.k) as i64);
    // The store's salts, not the keyring's: a salt a failed purge left behind is what to alert on.
    let days = match state.store.salt_days().await {
        Ok(days) => days,
        Err(_) => {
            m.store_error("scrape");
            state.keyring.salt_days()
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let oldest = days.iter().min().map_or(0, |day| (now - day * 86_400).max(0));
    m.salt_age_seconds.set(oldest);
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(m.render())
}
