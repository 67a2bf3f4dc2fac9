//! `POST /v1/decide`: the page-view hot path. Parse at the edge, then hand typed values to the domain.

use std::time::SystemTime;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::domain::consent::{gpc_header, Consent};
use crate::domain::pageview::decide::SlotDecision;
use crate::domain::pageview::view::{ConsentStrings, Pipeline, Records, ViewContext, ViewInput};
use crate::domain::signals::{cap_warnings, ClientHints, PageFields, RequestMeta, SessionSummary, Warning};
use crate::http::browser::page_view::PageViewOutcome;
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageBody {
    url: String,
    referrer: Option<String>,
    category: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    #[serde(default)]
    pages_viewed: u32,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    returning: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    tcf: Option<String>,
    gpp: Option<String>,
    gpp_sid: Option<Vec<u16>>,
    us_privacy: Option<String>,
    /// `navigator.globalPrivacyControl`, for browsers whose page scripts see it but whose requests
    /// carry no `Sec-GPC`; it can only take `advertise` away, so a forged value harms nobody.
    gpc: Option<bool>,
}

/// Header names looked up on every page view, made once: a name given as text is parsed and
/// lowercased again at each lookup.
pub const SEC_CH_UA_MOBILE: header::HeaderName = header::HeaderName::from_static("sec-ch-ua-mobile");
/// `Sec-CH-UA-Platform`.
pub const SEC_CH_UA_PLATFORM: header::HeaderName = header::HeaderName::from_static("sec-ch-ua-platform");
/// `Sec-GPC`.
pub const SEC_GPC: header::HeaderName = header::HeaderName::from_static("sec-gpc");

fn header(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The fields a page view and a conversion event share.
pub struct ViewFields {
    /// `site`
    pub site: Option<String>,
    /// `page`
    pub page: PageBody,
    /// `session`
    pub session: Option<SessionBody>,
    /// `visitor_id`
    pub visitor_id: Option<String>,
    /// `consent`
    pub consent: Option<ConsentBody>,
    /// `tz_offset_minutes`
    pub tz_offset_minutes: Option<i64>,
}

impl ViewFields {
    /// The page fields, moved out for parsing.
    fn page(&mut self) -> PageFields {
        PageFields {
            site: self.site.take(),
            url: std::mem::take(&mut self.page.url),
            referrer: self.page.referrer.take(),
            category: self.page.category.take(),
            session: self.session.take().map(|s| SessionSummary {
                pages_viewed: s.pages_viewed,
                categories: s.categories,
                returning: s.returning,
            }),
            tz_offset_minutes: self.tz_offset_minutes,
        }
    }
}

impl Pages {
    /// The page-view pipeline over this node's configuration, keys and consent book.
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline {
            extractor: &self.extractor,
            consent: &self.consent,
            keyring: &self.keyring,
            records: Records::Book(&self.book),
            pii_policy: self.pii_policy,
        }
    }
}

/// Reads one page view's headers and fields into the pipeline's input and runs it. Never touches
/// the store.
pub fn view_context(req: &HttpRequest, state: &Pages, mut f: ViewFields) -> Result<ViewContext, ApiError> {
    let headers = req.headers();
    let page = f.page();
    let strings = f.consent.as_ref();
    let input = ViewInput {
        page,
        visitor_id: f.visitor_id.as_deref(),
        meta: RequestMeta {
            user_agent: header(headers, header::USER_AGENT),
            client_hints: ClientHints::from_headers(
                header(headers, SEC_CH_UA_MOBILE),
                header(headers, SEC_CH_UA_PLATFORM),
            ),
            accept_language: header(headers, header::ACCEPT_LANGUAGE),
            country: state.client.country(req),
        },
        consent: ConsentStrings {
            tcf: strings.and_then(|c| c.tcf.as_deref()),
            gpp: strings.and_then(|c| c.gpp.as_deref()),
            gpp_sid: strings.and_then(|c| c.gpp_sid.as_deref()),
            us_privacy: strings.and_then(|c| c.us_privacy.as_deref()),
            gpc: gpc_header(headers.get_all(SEC_GPC).filter_map(|v| v.to_str().ok()))
                || strings.and_then(|c| c.gpc) == Some(true),
        },
        client: state.client.client_ip(req),
        now: SystemTime::now(),
    };
    Ok(state.pipeline().view(input)?)
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
    let mut outcome = PageViewOutcome::read(&req, &state, fields, dto.preview.as_deref())?;
    let rules = state.rules.load();
    let decision = outcome.decide(&rules, dto.slots.as_deref());
    if outcome.counted() {
        let view = &outcome.view;
        state
            .counts
            .record_decision(&decision, &view.key, view.client, view.now);
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
    Ok(HttpResponse::Ok().json(response))
}

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
