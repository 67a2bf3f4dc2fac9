//! The decide request body through the domain: page view parse, visitor id, signal extraction
//! (PII firewall), consent resolution and the decision itself.
//!
//! The input is a `POST /v1/decide` body. Its shape mirrors `http::decide::DecideBody` (which lives
//! in the server); the extra `headers` object stands for the request headers the server reads.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use personify::domain::consent::{ConsentInput, Purposes};
use personify::domain::pageview::decide::decide;
use personify::domain::privacy::VisitorId;
use personify::domain::signals::{PageFields, PageView, RequestMeta, SessionSummary};
use serde::Deserialize;

#[derive(Deserialize)]
struct Body {
    site: Option<String>,
    page: Page,
    session: Option<Session>,
    visitor_id: Option<String>,
    slots: Option<Vec<String>>,
    consent: Option<Consent>,
    tz_offset_minutes: Option<i64>,
    #[serde(default)]
    headers: Headers,
}

#[derive(Deserialize)]
struct Page {
    url: String,
    referrer: Option<String>,
    category: Option<String>,
}

#[derive(Deserialize)]
struct Session {
    #[serde(default)]
    pages_viewed: u32,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    returning: bool,
}

#[derive(Deserialize)]
struct Consent {
    tcf: Option<String>,
    gpp: Option<String>,
    gpp_sid: Option<Vec<u16>>,
    us_privacy: Option<String>,
    google_consent_mode: Option<personify::domain::consent::google::ConsentMode>,
    /// The restated withdrawal, by purpose name (the server refuses other names).
    withdrawn: Option<Vec<String>>,
}

/// The purposes a restated withdrawal names.
fn withdrawn(names: Option<&[String]>) -> Purposes {
    let mut p = Purposes::NONE;
    for n in names.unwrap_or_default() {
        match n.as_str() {
            "personalize" => p.personalize = true,
            "measure" => p.measure = true,
            "advertise" => p.advertise = true,
            _ => {}
        }
    }
    p
}

#[derive(Deserialize, Default)]
struct Headers {
    user_agent: Option<String>,
    accept_language: Option<String>,
    country: Option<String>,
    sec_gpc: Option<String>,
}

fuzz_target!(|data: &[u8]| common::run(|| one(data)));

fn one(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Body>(data) else {
        return;
    };
    let session = body.session.map(|s| SessionSummary {
        pages_viewed: s.pages_viewed,
        categories: s.categories,
        returning: s.returning,
    });
    let Ok(view) = PageView::parse(PageFields {
        site: body.site,
        url: body.page.url,
        referrer: body.page.referrer,
        category: body.page.category,
        session,
        tz_offset_minutes: body.tz_offset_minutes,
    }) else {
        return;
    };
    let visitor_id = body.visitor_id.as_deref().and_then(|v| VisitorId::parse(v).ok());
    let h = &body.headers;
    let meta = RequestMeta {
        user_agent: h.user_agent.as_deref(),
        client_hints: Default::default(),
        accept_language: h.accept_language.as_deref(),
        country: h.country.as_deref(),
        located: None,
    };
    let Ok(extracted) = common::EXTRACTOR.extract(&view, meta, common::now()) else {
        return;
    };
    let signals = extracted.signals;
    let _ = signals.to_json();
    let strings = body.consent.as_ref();
    let input = ConsentInput {
        country: signals.country,
        // As `consent::gpc_header` reads `Sec-GPC`.
        gpc: h.sec_gpc.as_deref().is_some_and(|v| v.trim() == "1"),
        record: None,
        tcf: strings.and_then(|c| c.tcf.as_deref()),
        gpp: strings.and_then(|c| c.gpp.as_deref()),
        gpp_sid: strings.and_then(|c| c.gpp_sid.as_deref()),
        us_privacy: strings.and_then(|c| c.us_privacy.as_deref()),
        google_consent_mode: strings.and_then(|c| c.google_consent_mode),
        withdrawn: withdrawn(strings.and_then(|c| c.withdrawn.as_deref())),
    };
    let mut warnings = Vec::new();
    let consent = common::POLICY.resolve(&input, &mut warnings);
    let site = signals.site.as_deref().unwrap_or_default();
    // The cookieless key needs a client address; a fixed id stands in (the key only picks arms).
    let stand_in = VisitorId::parse("0f6a7c2e-5b7d-4b1e-9a53-6f1d2c3b4a59").expect("a UUID is a visitor id");
    let id = visitor_id.filter(|_| consent.storage).unwrap_or(stand_in);
    let key = common::KEYRING.first_party(site, &id);
    let decision = decide(&common::RULES, &signals, &consent, &key, body.slots.as_deref());
    if !consent.purposes.personalize {
        assert!(
            decision.segments.is_empty(),
            "segments matched without personalize consent"
        );
    }
    for slot in &decision.slots {
        let _ = slot.rendered();
    }
}
