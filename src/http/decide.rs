//! `POST /v1/decide`: the page-view hot path. Parse at the edge, then hand typed values to the domain.

use std::time::SystemTime;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use super::body;
use super::error::ApiError;
use super::AppState;
use crate::config::PiiPolicy;
use crate::consent::{gpc_header, Consent, ConsentSignals};
use crate::decide::{decide, SlotDecision};
use crate::privacy::{VisitorId, VisitorKey};
use crate::signals::{pii, PageView, RequestMeta, SessionSummary, SignalError, Warning};

/// The request body as sent; converted to domain types before use.
#[derive(Debug, Deserialize)]
pub struct DecideBody {
    site: Option<String>,
    page: PageBody,
    session: Option<SessionBody>,
    visitor_id: Option<String>,
    slots: Option<Vec<String>>,
    consent: Option<ConsentBody>,
    tz_offset_minutes: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct PageBody {
    url: String,
    referrer: Option<String>,
    category: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SessionBody {
    #[serde(default)]
    pages_viewed: u32,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    returning: bool,
}

#[derive(Debug, Deserialize)]
struct ConsentBody {
    tcf: Option<String>,
    gpp: Option<String>,
    gpp_sid: Option<Vec<u16>>,
    us_privacy: Option<String>,
}

fn header(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Handles one page view.
pub async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bytes = body::read(&req, payload, state.max_body_bytes).await?;
    let dto: DecideBody = body::json(&bytes)?;
    let now = SystemTime::now();
    let session = dto.session.map(|s| SessionSummary {
        pages_viewed: s.pages_viewed,
        categories: s.categories,
        returning: s.returning,
    });
    let view = PageView::parse(
        dto.site,
        &dto.page.url,
        dto.page.referrer,
        dto.page.category,
        session,
        dto.tz_offset_minutes,
    )?;

    let headers = req.headers();
    let user_agent = header(headers, header::USER_AGENT);
    let meta = RequestMeta {
        user_agent,
        accept_language: header(headers, header::ACCEPT_LANGUAGE),
        country: header(headers, &state.country_header),
    };
    let mut extracted = state.extractor.extract(&view, meta, now)?;
    let signals = &extracted.signals;
    let consent = state.consent.resolve(&ConsentSignals {
        country: signals.country,
        gpc: gpc_header(header(headers, "sec-gpc")),
    });

    if let Some(c) = &dto.consent {
        let sent = [
            ("consent.tcf", c.tcf.is_some()),
            ("consent.gpp", c.gpp.is_some() || c.gpp_sid.is_some()),
            ("consent.us_privacy", c.us_privacy.is_some()),
        ];
        for (field, present) in sent {
            if present {
                extracted.warnings.push(Warning {
                    code: "consent_string_not_evaluated",
                    field: field.into(),
                    message: "consent strings are not evaluated by this version; the jurisdiction default and Sec-GPC decided".into(),
                });
            }
        }
    }

    let site = signals.site.as_deref().unwrap_or_default();
    let key = visitor_key(
        &state,
        &req,
        dto.visitor_id.as_deref(),
        site,
        user_agent,
        now,
        &mut extracted.warnings,
    )?;
    let rules = state.rules.load();
    let decision = decide(&rules, signals, &consent, &key, dto.slots.as_deref());
    extracted.warnings.extend(decision.warnings);

    let response = DecideResponse {
        segments: decision
            .segments
            .iter()
            .map(|s| SegmentOut {
                id: &s.id,
                name: &s.name,
            })
            .collect(),
        decisions: Decisions(&decision.slots),
        consent: &consent,
        rules_version: &rules.version,
        warnings: &extracted.warnings,
    };
    Ok(HttpResponse::Ok().json(response))
}

/// The first-party key when a usable `visitor_id` is sent, the cookieless daily key otherwise.
fn visitor_key(
    state: &AppState,
    req: &HttpRequest,
    visitor_id: Option<&str>,
    site: &str,
    user_agent: Option<&str>,
    now: SystemTime,
    warnings: &mut Vec<Warning>,
) -> Result<VisitorKey, ApiError> {
    if let Some(raw) = visitor_id {
        let id = VisitorId::parse(raw)?;
        match (pii::detect_in_identifier(id.as_str()), state.pii_policy) {
            (None, _) => return Ok(state.keyring.first_party(site, &id)),
            (Some(kind), PiiPolicy::Reject) => {
                return Err(SignalError::PersonalData {
                    field: "visitor_id".into(),
                    kind,
                }
                .into())
            }
            (Some(kind), PiiPolicy::Scrub) => warnings.push(Warning {
                code: "pii_scrubbed",
                field: "visitor_id".into(),
                message: format!(
                    "visitor_id looks like {}; it was ignored and the cookieless key used",
                    kind.describe()
                ),
            }),
        }
    }
    let from_header = state
        .client_ip_header
        .as_ref()
        .and_then(|h| header(req.headers(), h))
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    let ip = from_header.map(str::to_string).or(peer).unwrap_or_default();
    Ok(state.keyring.cookieless(site, &ip, user_agent.unwrap_or(""), now))
}

#[derive(Serialize)]
struct DecideResponse<'a> {
    segments: Vec<SegmentOut<'a>>,
    decisions: Decisions<'a>,
    consent: &'a Consent,
    rules_version: &'a str,
    warnings: &'a [Warning],
}

#[derive(Serialize)]
struct SegmentOut<'a> {
    id: &'a str,
    name: &'a str,
}

/// Serialises slot decisions as a map keyed by slot id without building one.
struct Decisions<'a>(&'a [SlotDecision<'a>]);

#[derive(Serialize)]
struct SlotOut<'a> {
    variant: &'a str,
    content: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    experiment: Option<ExperimentOut<'a>>,
}

#[derive(Serialize)]
struct ExperimentOut<'a> {
    id: &'a str,
    arm: &'a str,
}

impl Serialize for Decisions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for d in self.0 {
            let experiment = d.experiment().map(|(id, arm)| ExperimentOut { id, arm });
            map.serialize_entry(
                &d.slot.id,
                &SlotOut {
                    variant: &d.variant.id,
                    content: &d.variant.content,
                    experiment,
                },
            )?;
        }
        map.end()
    }
}
