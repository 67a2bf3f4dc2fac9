//! `POST /v1/rtb/segments` and `POST /v1/rtb/segments:batch`: the bid path. No store access.

use std::time::SystemTime;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::auth::Scope;
use super::body;
use super::error::ApiError;
use super::limits::LimitedRoute;
use super::AppState;
use crate::consent::gpc_header;
use crate::rtb::{evaluate, Answer, BidRequest, Caller, RtbContext};

/// Most bid requests in one batch.
pub const MAX_BATCH: usize = 100;

/// Whether this is a page's call (an allowed `Origin`, no token): a token in a page would be public
/// anyway, so the origin and a rate limit (`[limits.rtb_page]`) stand in for it. Any other call
/// needs the `rtb` token.
fn from_page(req: &HttpRequest, state: &AppState) -> Result<bool, ApiError> {
    let mut origins = req.headers().get_all(header::ORIGIN);
    let origin = origins.next().and_then(|v| v.to_str().ok());
    let page = origins.next().is_none()
        && origin.is_some_and(|o| state.allowed_origins.iter().any(|a| a == o))
        && !req.headers().contains_key(header::AUTHORIZATION);
    if !page {
        state.tokens.require(req, &[Scope::Rtb])?;
        return Ok(false);
    }
    state
        .limits
        .check(LimitedRoute::RtbPage, state.client.client_ip(req))
        .map_err(|l| ApiError::RateLimited {
            retry_after_secs: l.retry_after_secs,
        })?;
    Ok(true)
}

fn answer(
    state: &AppState,
    req: BidRequest,
    caller: Caller<'_>,
    sec_gpc: bool,
    now: SystemTime,
) -> Result<Answer, ApiError> {
    let rules = state.rules.load();
    let rolling = |id: &str| state.counts.rolling_uniques(id);
    let ctx = RtbContext {
        rules: &rules,
        extractor: &state.extractor,
        consent: &state.consent,
        provider: &state.rtb_provider,
        k: state.release.k,
        rolling_uniques: &rolling,
        sec_gpc,
    };
    Ok(evaluate(req, caller, &ctx, now)?)
}

/// One bid request.
pub async fn segments(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let page = from_page(&req, &state)?;
    let bytes = body::read(&req, payload, state.max_body_bytes).await?;
    // Straight into the typed request: no intermediate `Value` on the bid path.
    let bid: BidRequest = body::json(&bytes)?;
    // A page could claim any country: its jurisdiction comes from the trusted header (none = unknown
    // = opt-in), never from the bid request.
    let caller = if page {
        Caller::Browser {
            country: state.client.country(&req),
        }
    } else {
        Caller::Server
    };
    let sec_gpc = gpc_header(req.headers().get_all("sec-gpc").filter_map(|v| v.to_str().ok()));
    Ok(HttpResponse::Ok().json(answer(&state, bid, caller, sec_gpc, SystemTime::now())?))
}

/// Up to 100 bid requests; each answer or error in request order.
pub async fn batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.tokens.require(&req, &[Scope::Rtb])?;
    // A batch carries up to 100 bid requests: allow 100 single-request bodies.
    let bytes = body::read(&req, payload, state.max_body_bytes.saturating_mul(MAX_BATCH)).await?;
    let raw: Value = body::json(&bytes)?;
    let requests = raw
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::InvalidField {
            field: "requests".into(),
            message: "requests must be an array of bid requests".into(),
        })?;
    if requests.len() > MAX_BATCH {
        return Err(ApiError::InvalidField {
            field: "requests".into(),
            message: format!("at most {MAX_BATCH} bid requests per batch"),
        });
    }
    let now = SystemTime::now();
    let sec_gpc = gpc_header(req.headers().get_all("sec-gpc").filter_map(|v| v.to_str().ok()));
    let mut out = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        let one = BidRequest::from_json(r)
            .map_err(ApiError::from)
            .and_then(|bid| answer(&state, bid, Caller::Server, sec_gpc, now));
        out.push(match one {
            Ok(a) => serde_json::to_value(a).unwrap_or(Value::Null),
            Err(e) => {
                let resp = actix_web::ResponseError::error_response(&e);
                let status = resp.status().as_u16();
                let mut detail = json!({"code": "invalid_field", "message": e.to_string()});
                if let ApiError::InvalidField { field, .. } | ApiError::PersonalData { field, .. } = &e {
                    detail["field"] = json!(format!("requests[{i}].{field}"));
                }
                json!({"status": status, "error": detail})
            }
        });
    }
    Ok(HttpResponse::Ok().json(json!({"responses": out})))
}
