//! `POST /v1/decide`: the page-view hot path. Parse at the edge, then hand typed values to the domain.

use std::net::IpAddr;
use std::time::SystemTime;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::body::ApiJson;
use super::error::ApiError;
use super::AppState;
use crate::config::PiiPolicy;
use crate::consent::{gpc_header, Consent, ConsentInput};
use crate::counts::{Counts, Kind};
use crate::decide::{decide, Decision, Reason, SlotDecision};
use crate::privacy::network::NetworkKey;
use crate::privacy::utc_day;
use crate::privacy::{VisitorId, VisitorKey};
use crate::rules::RuleSet;
use crate::signals::{
    cap_warnings, pii, ClientHints, DeviceClass, PageView, RequestMeta, SessionSummary, SignalError, Signals, Warning,
};

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
pub struct PageBody {
    url: String,
    referrer: Option<String>,
    category: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SessionBody {
    #[serde(default)]
    pages_viewed: u32,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    returning: bool,
}

#[derive(Debug, Deserialize)]
pub struct ConsentBody {
    tcf: Option<String>,
    gpp: Option<String>,
    gpp_sid: Option<Vec<u16>>,
    us_privacy: Option<String>,
    /// `navigator.globalPrivacyControl`, for browsers whose page scripts see it but whose requests
    /// carry no `Sec-GPC`; it can only take `advertise` away, so a forged value harms nobody.
    gpc: Option<bool>,
}

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

/// A request turned into what the domain needs: signals, consent, and the visitor key.
pub struct ViewContext {
    /// Signals rules read.
    pub signals: crate::signals::Signals,
    /// Purposes that apply.
    pub consent: Consent,
    /// The visitor key (first-party when allowed, cookieless otherwise).
    pub key: VisitorKey,
    /// When the request arrived.
    pub now: SystemTime,
    /// The client address (trusted header or TCP peer), for the network key of counts.
    pub client: Option<IpAddr>,
    /// What was ignored and why.
    pub warnings: Vec<Warning>,
}

/// Parses, screens and resolves one page view. Never touches the store.
pub fn view_context(req: &HttpRequest, state: &AppState, f: ViewFields) -> Result<ViewContext, ApiError> {
    let now = SystemTime::now();
    let session = f.session.map(|s| SessionSummary {
        pages_viewed: s.pages_viewed,
        categories: s.categories,
        returning: s.returning,
    });
    let view = PageView::parse(
        f.site,
        &f.page.url,
        f.page.referrer,
        f.page.category,
        session,
        f.tz_offset_minutes,
    )?;
    let mut warnings = Vec::new();
    let visitor_id = first_party_id(state, f.visitor_id.as_deref(), &mut warnings)?;

    let headers = req.headers();
    let user_agent = header(headers, header::USER_AGENT);
    let meta = RequestMeta {
        user_agent,
        client_hints: ClientHints::from_headers(
            header(headers, "sec-ch-ua-mobile"),
            header(headers, "sec-ch-ua-platform"),
        ),
        accept_language: header(headers, header::ACCEPT_LANGUAGE),
        country: state.client.country(req),
    };
    let extracted = state.extractor.extract(&view, meta, now)?;
    warnings.extend(extracted.warnings);
    let signals = extracted.signals;

    // An explicit record (consent or opt-out) is looked up in memory: the hot path never waits on the store.
    let record = visitor_id.as_ref().and_then(|id| state.book.lookup(&state.keyring, id));
    let strings = f.consent.as_ref();
    let input = ConsentInput {
        country: signals.country,
        gpc: gpc_header(headers.get_all("sec-gpc").filter_map(|v| v.to_str().ok()))
            || strings.and_then(|c| c.gpc) == Some(true),
        record: record.as_ref(),
        tcf: strings.and_then(|c| c.tcf.as_deref()),
        gpp: strings.and_then(|c| c.gpp.as_deref()),
        gpp_sid: strings.and_then(|c| c.gpp_sid.as_deref()),
        us_privacy: strings.and_then(|c| c.us_privacy.as_deref()),
    };
    let consent = state.consent.resolve(&input, &mut warnings);
    let site = signals.site.as_deref().unwrap_or_default();
    let client = state.client.client_ip(req);
    let key = match visitor_id.filter(|_| consent.storage) {
        Some(id) => state.keyring.first_party(site, &id),
        None => state.keyring.cookieless(site, client, user_agent.unwrap_or(""), now),
    };
    Ok(ViewContext {
        signals,
        consent,
        key,
        now,
        client,
        warnings,
    })
}

/// Handles one page view.
pub async fn handle(
    req: HttpRequest,
    ApiJson(dto): ApiJson<DecideBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let fields = ViewFields {
        site: dto.site,
        page: dto.page,
        session: dto.session,
        visitor_id: dto.visitor_id,
        consent: dto.consent,
        tz_offset_minutes: dto.tz_offset_minutes,
    };
    let ViewContext {
        signals,
        consent,
        key,
        now,
        client,
        mut warnings,
    } = view_context(&req, &state, fields)?;
    let rules = state.rules.load();
    // Crawlers get the defaults unless a rule is written for them, and are never counted.
    let bot = signals.device == Some(DeviceClass::Bot);
    let decision = if bot && !rules_target_bots(&rules, &signals) {
        let mut defaults = consent;
        defaults.purposes.personalize = false;
        decide(&rules, &signals, &defaults, &key, dto.slots.as_deref())
    } else {
        decide(&rules, &signals, &consent, &key, dto.slots.as_deref())
    };
    warnings.extend(decision.warnings.iter().cloned());
    // One request can name thousands of unknown slots; the answer stays small whatever is sent.
    let warnings = cap_warnings(warnings);
    if consent.purposes.measure && !bot {
        let network = state.counts.network_key(client, now);
        count_decision(&state.counts, &decision, &key, network.as_ref(), utc_day(now));
    }

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
    };
    Ok(HttpResponse::Ok().json(response))
}

/// Whether a segment matches this page view only because it comes from a crawler.
fn rules_target_bots(rules: &RuleSet, signals: &Signals) -> bool {
    let as_bot = rules.match_segments(signals);
    let mut visitor = signals.clone();
    visitor.device = None;
    let as_visitor = rules.match_segments(&visitor);
    let only_as_bot = as_bot.iter().any(|i| !as_visitor.iter().any(|j| j == i));
    only_as_bot
}

/// Segment visitors, segment views and experiment exposures of one decision, each with its network.
fn count_decision(counts: &Counts, decision: &Decision<'_>, key: &VisitorKey, net: Option<&NetworkKey>, day: i64) {
    let mut batch = counts.batch();
    for s in &decision.segments {
        batch.seen(Kind::Segment, &s.count_key, day, key.as_bytes(), net);
        batch.add(Kind::Views, &s.count_key, day, 1);
    }
    for d in &decision.slots {
        if let Reason::Experiment { experiment, arm, .. } = d.reason {
            batch.seen(Kind::Exposure, experiment.count_key(arm), day, key.as_bytes(), net);
        }
    }
}

/// The request's `visitor_id`, parsed; one that is plainly someone's identity is dropped (or refused).
fn first_party_id(
    state: &AppState,
    raw: Option<&str>,
    warnings: &mut Vec<Warning>,
) -> Result<Option<VisitorId>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let id = VisitorId::parse(raw)?;
    match (pii::detect_in_identifier(id.as_str()), state.pii_policy) {
        (None, _) => Ok(Some(id)),
        (Some(kind), PiiPolicy::Reject) => Err(SignalError::PersonalData {
            field: "visitor_id".into(),
            kind,
        }
        .into()),
        (Some(kind), PiiPolicy::Scrub) => {
            warnings.push(Warning {
                code: "pii_scrubbed",
                field: "visitor_id".into(),
                message: format!(
                    "visitor_id looks like {}; it was ignored and the cookieless key used",
                    kind.describe()
                ),
            });
            Ok(None)
        }
    }
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

impl Serialize for Decisions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for d in self.0 {
            map.serialize_entry(&d.slot.id, d.rendered())?;
        }
        map.end()
    }
}
