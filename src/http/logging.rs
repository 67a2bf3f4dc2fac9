//! Request logging and request metrics, which record the route pattern, method, status and latency — never the client
//! address, User-Agent, query string, path parameters or body (docs/architecture.md, invariant 1).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use super::error::ApiError;
use super::routes::RouteIndex;
use super::AppState;

/// Middleware: one `info` line and one metrics observation per request.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let res = next.call(req).await?;
    // The matched route (`/v1/decide`), not the requested path, which could carry anything.
    let route = res.request().app_data::<RouteIndex>().copied();
    let pattern = route.map_or("<unmatched>", RouteIndex::pattern);
    let status = res.status().as_u16();
    if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
        let m = &state.metrics;
        let index = route.map_or_else(|| m.route_index(None), |r| r.0);
        m.record_request(index, status, started.elapsed());
        if status == 429 {
            m.rate_limited.inc();
        }
        // Only a store failure answers 503 through `ApiError`; readiness builds its own 503.
        if status == 503
            && res
                .response()
                .error()
                .and_then(|e| e.as_error::<ApiError>())
                .is_some_and(|e| matches!(e, ApiError::StoreUnavailable))
        {
            m.store_error("request");
        }
    }
    tracing::info!(
        target: "personify::http",
        method = %method,
        route = %pattern,
        status,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    Ok(res)
}
