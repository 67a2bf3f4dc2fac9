//! The check in front of the browser-facing routes: an `Origin` check against cross-site writes, then
//! the per-client rate limit. Run by the route's gate, so no handler can forget either.

use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use actix_web::HttpRequest;

use crate::config::normalise_origin;
use crate::http::edge::limits::LimitedRoute;
use crate::http::edge::Edge;
use crate::http::error::ApiError;

/// The check for one browser-callable route: refuse foreign origins (403), then, when the route has
/// a bucket, over-limit clients (429). Run by [`crate::http::edge::gate::Gate`] around each resource, never
/// matched on the path text: the router also serves percent-encoded spellings of a path.
pub fn check(limit: Option<LimitedRoute>, req: &ServiceRequest, state: &Edge) -> Result<(), ApiError> {
    check_origin(req.request(), state)?;
    let Some(limited) = limit else { return Ok(()) };
    let client = state.client.client_ip(req.request());
    state.limits.check(limited, client).map_err(|l| ApiError::RateLimited {
        retry_after_secs: l.retry_after_secs,
    })
}

/// A request with `Origin` must come from an allowed origin or personify's own; without one it is a
/// server-to-server call and passes.
fn check_origin(req: &HttpRequest, state: &Edge) -> Result<(), ApiError> {
    let mut sent = req.headers().get_all(header::ORIGIN);
    let Some(first) = sent.next() else { return Ok(()) };
    if sent.next().is_some() {
        return Err(ApiError::OriginNotAllowed);
    }
    // `null` (sandboxed frames, file: pages, some redirects) says nothing about who is calling.
    let origin = first
        .to_str()
        .ok()
        .filter(|o| !o.trim().eq_ignore_ascii_case("null"))
        .and_then(normalise_origin)
        .ok_or(ApiError::OriginNotAllowed)?;
    if state.allowed_origins.contains(&origin) || own_origin(req, state).is_some_and(|o| o == origin) {
        Ok(())
    } else {
        Err(ApiError::OriginNotAllowed)
    }
}

/// personify's own origin as the browser sees it: the `Host` header, and the scheme a trusted proxy
/// reports in `X-Forwarded-Proto` (plain http otherwise: personify itself does not terminate TLS).
fn own_origin(req: &HttpRequest, state: &Edge) -> Option<String> {
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    let scheme = if state.client.peer_is_trusted(req) {
        req.headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| v == "https" || v == "http")
            .unwrap_or_else(|| "http".into())
    } else {
        "http".into()
    };
    normalise_origin(&format!("{scheme}://{host}"))
}
