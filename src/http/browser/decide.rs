//! `POST /v1/decide`: the page-view hot path. Parse at the edge, then hand typed values to the domain.

use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::domain::consent::Consent;
use crate::domain::pageview::decide::SlotDecision;
use crate::domain::signals::{cap_warnings, Warning};
use crate::http::browser::page_view::{ConsentBody, PageBody, PageViewOutcome, SessionBody, ViewFields};
use crate::http::edge::body::ApiJsonNoting;
use crate::http::edge::unknown_fields;
use crate::http::error::ApiError;
use crate::http::Pages;

/// The request body as sent; converted to domain types before use. Unknown keys are warned about,
/// not refused: `deny_unknown_fields` only sends such a body to the slow parse (`unknown_fields.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideBody {
    site: Option<String>,
    page: PageBody,
    session: Option<SessionBody>,
    visitor_id: Option<String>,
    slots: Option<Vec<String>>,
    consent: Option<ConsentBody>,
    tz_offset_minutes: Option<i64>,
    /// A preview token, as the browser SDK sends it (the `Personify-Preview` header also works).
    preview: Option<String>,
}

impl unknown_fields::Noted for DecideBody {
    const FIELDS: &'static [&'static str] = unknown_fields::DECIDE_FIELDS;
}

/// Handles one page view.
pub async fn handle(
    req: HttpRequest,
    ApiJsonNoting(dto): ApiJsonNoting<DecideBody>,
    state: web::Data<Pages>,
) -> Result<HttpResponse, ApiError> {
    let fields = ViewFields {
        site: dto.site,
        page: dto.page,
        session: dto.session,
        visitor_id: dto.visitor_id,
        consent: dto.consent,
        tz_offset_minutes: dto.tz_offset_minutes,
    };
    let mut outcome = PageViewOutcome::read(&req, &state, fields, dto.preview.as_deref()).await?;
    let rules = state.rules.load();
    let decision = outcome.decide(&rules, dto.slots.as_deref());
    if outcome.counted() {
        let view = &outcome.view;
        state
            .counts
            .record_decision(&decision, &view.key, view.unit.as_ref(), view.client, view.now);
    }
    let consent = outcome.consent();
    let preview = outcome.previewed();
    let view = &mut outcome.view;
    let mut warnings = std::mem::take(&mut view.warnings);
    warnings.extend(decision.warnings.iter().cloned());
    warnings.extend(unknown_fields::warnings(&req, unknown_fields::DECIDE_FIELDS));
    // One request can name thousands of unknown slots; the answer stays small whatever is sent.
    let warnings = cap_warnings(warnings);

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
        warnings: &warnings,
        preview,
    };
    // Written into a buffer the size of a usual answer: `json()` starts at 128 bytes and reallocates
    // its way up, copying the answer three times on a usual page view.
    let mut body = Vec::with_capacity(ANSWER_CAPACITY);
    if let Err(e) = serde_json::to_writer(&mut body, &response) {
        return Ok(HttpResponse::from_error(actix_web::error::JsonPayloadError::Serialize(
            e,
        )));
    }
    Ok(HttpResponse::Ok().content_type(ContentType::json()).body(body))
}

/// Bytes reserved for an answer: a few segments and slots with their content fit.
const ANSWER_CAPACITY: usize = 2048;

#[derive(Serialize)]
struct DecideResponse<'a> {
    segments: Vec<SegmentOut<'a>>,
    decisions: Decisions<'a>,
    consent: &'a Consent,
    rules_version: &'a str,
    warnings: &'a [Warning],
    /// Present (and true) only on a previewed page view.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    preview: bool,
}

#[derive(Serialize)]
struct SegmentOut<'a> {
    id: &'a str,
    name: &'a str,
}

/// Serialises slot decisions as a map keyed by slot id without building one.
struct Decisions<'a>(&'a [SlotDecision<'a>]);

impl Serialize for Decisions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for d in self.0 {
            map.serialize_entry(&d.slot.id, d.rendered())?;
        }
        map.end()
    }
}
