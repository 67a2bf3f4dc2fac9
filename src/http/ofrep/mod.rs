//! The OpenFeature Remote Evaluation Protocol (OFREP): `POST /ofrep/v1/evaluate/flags/{key}` (one
//! flag, for server-side providers) and `POST /ofrep/v1/evaluate/flags` (every flag, for
//! client-side providers). Each slot of the rules is a flag whose value is the variant's content.
//! A page view like `/v1/decide`'s: the same pipeline, consent, preview and counting rules (a bulk
//! evaluation is one page view; a single flag counts only its own exposure; a 304 counts nothing).

pub mod answer;
pub mod context;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::domain::pageview::decide::Decision;
use crate::domain::signals::cap_warnings;
use crate::http::edge::body::ApiJsonNoting;
use crate::http::edge::unknown_fields;
use crate::http::error::{ApiError, OfrepError, OfrepFailure};
use crate::http::Pages;
use answer::{Bulk, Flag, SetMetadata};
use context::OfrepBody;

/// `POST /ofrep/v1/evaluate/flags/{key}`: one slot.
pub async fn evaluate_one(
    req: HttpRequest,
    key: web::Path<String>,
    body: Result<ApiJsonNoting<OfrepBody>, ApiError>,
    state: web::Data<Pages>,
) -> Result<HttpResponse, OfrepError> {
    let rules = state.rules.load();
    // A key that names no slot is request text: it is not repeated.
    let Some(slot) = rules.slot(&key) else {
        return Err(OfrepError {
            key: Some(String::new()),
            failure: OfrepFailure::FlagNotFound,
        });
    };
    let failed = |e: ApiError| OfrepError {
        key: Some(slot.id.clone()),
        failure: OfrepFailure::Request(e),
    };
    let ApiJsonNoting(body) = body.map_err(failed)?;
    let mut outcome = body.context.read(&req, &state).await.map_err(failed)?;
    let wanted = [slot.id.clone()];
    let decision = outcome.decide(&rules, Some(&wanted));
    let Some(slot_decision) = decision.slots.first() else {
        return Err(OfrepError {
            key: Some(slot.id.clone()),
            failure: OfrepFailure::General,
        });
    };
    if outcome.counted() {
        // One flag is not a page view: only the exposure of the experiment arm this slot shows.
        let exposure = Decision {
            segments: Vec::new(),
            slots: decision.slots.clone(),
            warnings: Vec::new(),
        };
        let view = &outcome.view;
        state
            .counts
            .record_decision(&exposure, &view.key, view.unit.as_ref(), view.client, view.now);
    }
    let warnings = warnings(&req, &mut outcome.view.warnings, &decision);
    let set = SetMetadata::new(&outcome.consent(), &rules.version, outcome.previewed(), &warnings);
    Ok(HttpResponse::Ok().json(Flag::new(slot_decision, Some(&set))))
}

/// `POST /ofrep/v1/evaluate/flags`: every slot, with an ETag of the whole answer.
pub async fn evaluate_all(
    req: HttpRequest,
    body: Result<ApiJsonNoting<OfrepBody>, ApiError>,
    state: web::Data<Pages>,
) -> Result<HttpResponse, OfrepError> {
    let failed = |e: ApiError| OfrepError {
        key: None,
        failure: OfrepFailure::Request(e),
    };
    let ApiJsonNoting(body) = body.map_err(failed)?;
    let mut outcome = body.context.read(&req, &state).await.map_err(failed)?;
    let rules = state.rules.load();
    let decision = outcome.decide(&rules, None);
    let warnings = warnings(&req, &mut outcome.view.warnings, &decision);
    let set = SetMetadata::new(&outcome.consent(), &rules.version, outcome.previewed(), &warnings);
    let bulk = Bulk {
        flags: decision.slots.iter().map(|d| Flag::new(d, None)).collect(),
        metadata: &set,
    };
    let bytes = serde_json::to_vec(&bulk).map_err(|_| OfrepError {
        key: None,
        failure: OfrepFailure::General,
    })?;
    let etag = answer::etag(&bytes);
    let sent = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok());
    if answer::none_match(sent, &etag) {
        // The caller holds this very answer: nothing new was shown, so nothing is counted.
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish());
    }
    if outcome.counted() {
        let view = &outcome.view;
        state
            .counts
            .record_decision(&decision, &view.key, view.unit.as_ref(), view.client, view.now);
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .content_type("application/json")
        .body(bytes))
}

/// The warnings decide would answer, for the metadata (codes only).
fn warnings(
    req: &HttpRequest,
    view: &mut Vec<crate::domain::signals::Warning>,
    decision: &Decision<'_>,
) -> Vec<crate::domain::signals::Warning> {
    let mut all = std::mem::take(view);
    all.extend(decision.warnings.iter().cloned());
    all.extend(unknown_fields::warnings(req, context::FIELDS));
    cap_warnings(all)
}
