//! `POST /v1/rtb/segments` and `POST /v1/rtb/segments:batch`: the bid path. No store access.

use std::time::SystemTime;

use std::future::{ready, Ready};

use actix_web::http::header;
use actix_web::{dev, web, FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;

use super::edge::body::ApiJson;
use super::edge::limits::LimitedRoute;
use super::edge::Edge;
use super::error::{ApiError, BatchItemError};
use super::Pages;
use crate::config::Scope;
use crate::domain::consent::gpc_header;
use crate::domain::rtb::{evaluate, Answer, BidRequest, Caller, RtbContext};

/// Most bid requests in one batch.
pub const MAX_BATCH: usize = 100;

/// Who is calling `POST /v1/rtb/segments`, settled before the body is read: a page (an allowed
/// `Origin`, no token; a token in a page would be public anyway, so the origin and a rate limit
/// (`[limits.rtb_page]`) stand in for it) or a server with the `rtb` token. The batch route takes
/// only servers, through the route table's scope guard.
pub struct RtbCaller {
    page: bool,
}

impl FromRequest for RtbCaller {
    type Error = ApiError;
    type Future = Ready<Result<RtbCaller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        ready(match req.app_data::<web::Data<Edge>>() {
            Some(state) => from_page(req, state).map(|page| RtbCaller { page }),
            None => Err(ApiError::Unauthorized("no token configuration".into())),
        })
    }
}

fn from_page(req: &HttpRequest, state: &Edge) -> Result<bool, ApiError> {
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
    state: &Pages,
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
    caller: RtbCaller,
    // Straight into the typed request: no intermediate `Value` on the bid path.
    ApiJson(bid): ApiJson<BidRequest>,
    req: HttpRequest,
    state: web::Data<Pages>,
) -> Result<HttpResponse, ApiError> {
    // A page could claim any country: its jurisdiction comes from the trusted header or the lookup of
    // its address (none = unknown = opt-in), never from the bid request.
    let caller = if caller.page {
        let country = state.client.visitor_country(&req, state.client.client_ip(&req));
        Caller::Browser {
            country: country.header,
            located: country.located.map(|l| l.country),
        }
    } else {
        Caller::Server
    };
    let sec_gpc = gpc_header(
        req.headers()
            .get_all(super::browser::page_view::SEC_GPC)
            .filter_map(|v| v.to_str().ok()),
    );
    Ok(HttpResponse::Ok().json(answer(&state, bid, caller, sec_gpc, SystemTime::now())?))
}

/// One place of a batch answer: the answer, or the error a single request would have got.
#[derive(Serialize)]
#[serde(untagged)]
enum BatchItem<'a> {
    Answer(&'a Answer),
    Error(BatchItemError<'a>),
}

/// `POST /v1/rtb/segments:batch`'s answer.
#[derive(Serialize)]
struct BatchAnswer<'a> {
    responses: Vec<BatchItem<'a>>,
}

/// Up to 100 bid requests; each answer or error in request order. Behind the `rtb` scope guard.
pub async fn batch(
    // A batch carries up to 100 bid requests: allow 100 single-request bodies.
    ApiJson(raw): ApiJson<Value, MAX_BATCH>,
    req: HttpRequest,
    state: web::Data<Pages>,
) -> Result<HttpResponse, ApiError> {
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
    let sec_gpc = gpc_header(
        req.headers()
            .get_all(super::browser::page_view::SEC_GPC)
            .filter_map(|v| v.to_str().ok()),
    );
    let results: Vec<Result<Answer, ApiError>> = requests
        .iter()
        .map(|r| {
            BidRequest::from_json(r)
                .map_err(ApiError::from)
                .and_then(|bid| answer(&state, bid, Caller::Server, sec_gpc, now))
        })
        .collect();
    let responses = results
        .iter()
        .enumerate()
        .map(|(i, one)| match one {
            Ok(a) => BatchItem::Answer(a),
            Err(e) => BatchItem::Error(e.batch_item(i)),
        })
        .collect();
    Ok(HttpResponse::Ok().json(BatchAnswer { responses }))
}
