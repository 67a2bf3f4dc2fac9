//! Consent routes: the purpose catalogue, recording choices and opt-outs, and a visitor's status.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::domain::consent::{Purposes, PURPOSE_NAMES};
use crate::domain::ledger::entry::{rfc3339, Action, Entry};
use crate::domain::privacy::VisitorId;
use crate::engine::consent::choices::Choices;
use crate::http::edge::body::ApiJson;
use crate::http::edge::Edge;
use crate::http::error::ApiError;
use crate::http::Pages;

/// `POST /v1/consent` as sent.
#[derive(Debug, Deserialize)]
pub struct ConsentBody {
    visitor_id: String,
    purposes: serde_json::Map<String, serde_json::Value>,
    source: String,
    policy_version: String,
}

/// `POST /v1/opt-out` and `POST /v1/consent/status` as sent.
#[derive(Debug, Deserialize)]
pub struct VisitorBody {
    visitor_id: String,
    source: Option<String>,
}

/// A receipt for a recorded choice: what was recorded, and where to fetch its inclusion proof.
#[derive(Debug, Serialize)]
struct Receipt<'a> {
    receipt_id: &'a str,
    recorded_at: &'a str,
    action: Action,
    purposes: Purposes,
    source: &'a str,
    policy_version: &'a str,
    leaf_index: u64,
    leaf_hash: String,
    proof: String,
}

fn receipt(e: &Entry) -> Receipt<'_> {
    Receipt {
        receipt_id: &e.receipt_id,
        recorded_at: &e.time,
        action: e.action,
        purposes: e.purposes,
        source: &e.source,
        policy_version: &e.policy_version,
        leaf_index: e.index,
        leaf_hash: hex::encode(e.leaf_hash),
        proof: format!("/v1/consent/receipts/{}/proof", e.receipt_id),
    }
}

fn parse_purposes(map: &serde_json::Map<String, serde_json::Value>) -> Result<Purposes, ApiError> {
    if map.is_empty() {
        return Err(ApiError::InvalidField {
            field: "purposes".into(),
            message: format!("purposes must name at least one of {}", PURPOSE_NAMES.join(", ")),
        });
    }
    let mut p = Purposes::NONE;
    for (name, value) in map {
        let field = format!("purposes.{name}");
        let slot = match name.as_str() {
            "personalize" => &mut p.personalize,
            "measure" => &mut p.measure,
            "advertise" => &mut p.advertise,
            _ => {
                return Err(ApiError::InvalidField {
                    message: format!("purposes may only name {}", PURPOSE_NAMES.join(", ")),
                    field: "purposes".into(),
                });
            }
        };
        *slot = value.as_bool().ok_or_else(|| ApiError::InvalidField {
            message: format!("{field} must be true or false"),
            field,
        })?;
    }
    Ok(p)
}

/// `POST /v1/consent`
pub async fn give(ApiJson(dto): ApiJson<ConsentBody>, choices: web::Data<Choices>) -> Result<HttpResponse, ApiError> {
    let id = VisitorId::parse(&dto.visitor_id)?;
    let purposes = parse_purposes(&dto.purposes)?;
    let entry = choices.give(&id, purposes, &dto.source, &dto.policy_version).await?;
    Ok(HttpResponse::Created().json(receipt(&entry)))
}

/// `POST /v1/opt-out`
pub async fn opt_out(
    ApiJson(dto): ApiJson<VisitorBody>,
    choices: web::Data<Choices>,
) -> Result<HttpResponse, ApiError> {
    let id = VisitorId::parse(&dto.visitor_id)?;
    let entry = choices.opt_out(&id, dto.source.as_deref()).await?;
    Ok(HttpResponse::Created().json(receipt(&entry)))
}

/// `POST /v1/consent/status`
pub async fn status(ApiJson(dto): ApiJson<VisitorBody>, choices: web::Data<Choices>) -> Result<HttpResponse, ApiError> {
    let id = VisitorId::parse(&dto.visitor_id)?;
    let status = choices.status(&id).await?;
    let current = status.record.as_ref();
    Ok(HttpResponse::Ok().json(Status {
        recorded: current.is_some(),
        purposes: current.map(|r| r.purposes),
        opted_out: current.is_some_and(|r| r.opted_out),
        recorded_at: current.map(|r| rfc3339(r.recorded_at)),
        receipts: status.entries.iter().map(receipt).collect(),
    }))
}

/// What an erasure did.
#[derive(Debug, Serialize)]
struct Erasure<'a> {
    erased_entries: u64,
    suppression_kept: bool,
    receipt: Receipt<'a>,
}

/// `POST /v1/consent/erase`: deletes the link between a visitor and their log entries (GDPR art.
/// 17). The leaves stay, so every proof still verifies; an opt-out stays honoured through a
/// suppression marker (`docs/decisions/002-consent-ledger.md`).
pub async fn erase(
    req: HttpRequest,
    ApiJson(dto): ApiJson<VisitorBody>,
    choices: web::Data<Choices>,
    edge: web::Data<Edge>,
) -> Result<HttpResponse, ApiError> {
    let id = VisitorId::parse(&dto.visitor_id)?;
    // Who asked is only ever a token's configured name, or "visitor" for the visitor's own page.
    let actor = edge.tokens.holder(&req).unwrap_or("visitor");
    let done = choices.erase(&id, dto.source.as_deref(), actor).await?;
    Ok(HttpResponse::Ok().json(Erasure {
        erased_entries: done.entries,
        suppression_kept: done.suppressed,
        receipt: receipt(&done.entry),
    }))
}

/// A visitor's current choice and every receipt.
#[derive(Debug, Serialize)]
struct Status<'a> {
    recorded: bool,
    purposes: Option<Purposes>,
    opted_out: bool,
    recorded_at: Option<String>,
    receipts: Vec<Receipt<'a>>,
}

/// TCF purposes that allow a purpose: any one of the listed sets, all of a set together.
#[derive(Serialize)]
struct Tcf {
    #[serde(skip_serializing_if = "Option::is_none")]
    contextual: Option<&'static [&'static [u8]]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_based: Option<&'static [&'static [u8]]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    any_of: Option<&'static [&'static [u8]]>,
}

/// One purpose of the catalogue and the segments it covers.
#[derive(Serialize)]
struct Purpose<'a> {
    id: &'static str,
    description: &'static str,
    tcf_purposes: Tcf,
    segments: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_based_segments: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensitive_segments: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensitive_rule: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    denied_by: Option<&'static [&'static str]>,
}

/// `GET /v1/consent/purposes`'s answer.
#[derive(Serialize)]
struct Catalogue<'a> {
    purposes: [Purpose<'a>; 3],
    resolution_order: &'static [&'static str],
    storage: &'static str,
}

/// `GET /v1/consent/purposes`
pub async fn purposes(state: web::Data<Pages>) -> HttpResponse {
    let rules = state.rules.load();
    let all: Vec<&str> = rules.segments.iter().map(|s| s.id.as_str()).collect();
    let session: Vec<&str> = rules
        .segments
        .iter()
        .filter(|s| s.session_based)
        .map(|s| s.id.as_str())
        .collect();
    let advertised: Vec<&str> = rules
        .segments
        .iter()
        .filter(|s| s.sensitive.is_none() && !s.audience_taxonomy.is_empty())
        .map(|s| s.id.as_str())
        .collect();
    let sensitive: Vec<&str> = rules
        .segments
        .iter()
        .filter(|s| s.sensitive.is_some())
        .map(|s| s.id.as_str())
        .collect();
    HttpResponse::Ok().json(Catalogue {
        purposes: [
            Purpose {
                id: "personalize",
                description: "Choose which content variant each page slot shows from the segment the current page view is inferred to belong to.",
                tcf_purposes: Tcf {
                    contextual: Some(&[&[11], &[5, 6]]),
                    session_based: Some(&[&[5, 6]]),
                    any_of: None,
                },
                segments: all.clone(),
                session_based_segments: Some(session),
                sensitive_segments: Some(sensitive),
                sensitive_rule: Some("sensitive segments need an explicit choice (a consent record or TCF), never a default"),
                denied_by: None,
            },
            Purpose {
                id: "measure",
                description: "Count page views, segment members and experiment exposures as aggregates (HyperLogLog sketches and counters) released only above k.",
                tcf_purposes: Tcf {
                    contextual: None,
                    session_based: None,
                    any_of: Some(&[&[8], &[9]]),
                },
                segments: all,
                session_based_segments: None,
                sensitive_segments: None,
                sensitive_rule: None,
                denied_by: None,
            },
            Purpose {
                id: "advertise",
                description: "Release IAB audience taxonomy buckets of k-anonymous, non-sensitive segments to ad integrations (OpenRTB user.data).",
                tcf_purposes: Tcf {
                    contextual: Some(&[&[2], &[3, 4]]),
                    session_based: Some(&[&[3, 4]]),
                    any_of: None,
                },
                segments: advertised,
                session_based_segments: None,
                sensitive_segments: None,
                sensitive_rule: None,
                denied_by: Some(&["Sec-GPC: 1", "GPP or US privacy opt-out of sale, sharing or targeted advertising"]),
            },
        ],
        resolution_order: &["record", "tcf", "gpp", "us_privacy", "gpc", "jurisdiction_default"],
        storage: "without TCF purpose 1 the visitor_id is ignored and the cookieless daily key is used",
    })
}
