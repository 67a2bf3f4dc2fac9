//! `POST /v1/admin/explain`: what `personify explain` prints, as JSON, for a page view given as
//! signals. The same pipeline as `/v1/decide` ([`crate::domain::pageview::view`]); never counted, never reads or writes
//! consent state, never reaches RTB. An `address` is looked up with the node's geo sources and
//! dropped: only its country is used.

use std::time::SystemTime;

use actix_web::{web, HttpResponse};

use crate::domain::pageview::explain::{ExplainConsent, ExplainRequest, Explanation};
use crate::domain::pageview::view::Pipeline;
use crate::http::edge::body::ApiJson;
use crate::http::error::ApiError;
use crate::http::Pages;

/// Explains one page view. Behind the `analyst` scope guard.
pub async fn explain(
    ApiJson(request): ApiJson<ExplainRequest>,
    state: web::Data<Pages>,
) -> Result<HttpResponse, ApiError> {
    // The node's keys, so the arm shown is the one this visitor id gets; the record is assumed or
    // absent, never the consent book's.
    let pipeline = Pipeline {
        records: request.records(),
        ..state.pipeline()
    };
    let located = request.address()?.and_then(|ip| state.client.locator().locate(ip));
    let view = pipeline.view(request.input(SystemTime::now(), located))?;
    let rules = state.rules.load();
    let decision = view.decide(&rules, None);
    let explanation = Explanation::new(&rules, &view, &decision, request.consent == ExplainConsent::Granted);
    Ok(HttpResponse::Ok().json(explanation))
}
