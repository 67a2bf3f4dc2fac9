//! Ad/RTB targeting: an OpenRTB 2.5/2.6 BidRequest (only what is needed, unknown fields ignored) →
//! IAB taxonomy buckets ready to merge into `user.data` and `site.content.data`, released only with
//! `advertise` consent, only for k-anonymous, non-sensitive segments, never on a sensitive page.
//!
//! Without `advertise` the answer says only that, whatever the page matched; a sensitive page answers
//! exactly as a page that matches nothing. So the public rtb token tells nobody which segments exist.

pub mod country;
pub mod inventory;
pub mod request;

use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

pub use request::BidRequest;

use crate::domain::consent::{Consent, ConsentPolicy};
use crate::domain::counts::report::{k_anonymous, Seen};
use crate::domain::pageview::view::ConsentStrings;
use crate::domain::rules::RuleSet;
use crate::domain::signals::{
    ClientHints, Country, DeviceClass, LocalTime, RequestMeta, SignalError, SignalExtractor, Signals, Warning,
};

/// Who sent the bid request, which decides whose word on the jurisdiction is believed.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// An ad server or SSP holding the rtb token: `device.geo.country` and `regs.gdpr = 0` in the body
    /// are believed (the caller geolocated the visitor).
    Server,
    /// A visitor's browser: the body is the visitor's own word, so the country comes from the trusted
    /// proxy header (or, without one, the configured lookup of the client address) and the body can
    /// only make the answer stricter (`regs.gdpr = 1`).
    Browser {
        /// The country from the trusted header, if any.
        country: Option<&'a str>,
        /// The country of the client address, looked up only when no country header was sent.
        located: Option<Country>,
    },
}

/// Why nothing (or not a given segment) was released; never personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Withheld {
    /// No `advertise` consent (see `consent.basis`). Reported alone, without segment ids.
    NoAdvertiseConsent,
    /// GDPR applies and the request carries no TC string. Reported alone, without segment ids.
    GdprWithoutConsentString,
    /// The request names no page, domain, app or venue personify can read.
    NoInventory,
    /// No releasable segment matches (a sensitive page answers the same).
    NoSegment,
    /// Fewer than k distinct visitors in the last 7 days.
    BelowK,
    /// A session-based segment needs TCF purposes 3 and 4.
    NeedsProfileConsent,
    /// The segment declares no taxonomy ids.
    NoTaxonomy,
}

/// What the integrator gets.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// `user.data` fragment (present when something is released).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Value>,
    /// `site.content.data` fragment (present when something is released).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<Value>,
    /// Released segments, withheld ones with reasons, consent, warnings.
    pub personify: Explanation,
}

/// Why the answer is what it is.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// Segment ids released.
    pub released: Vec<String>,
    /// Why nothing, or not some segment, was released.
    pub withheld: Vec<WithheldSegment>,
    /// Consent as resolved from the bid request.
    pub consent: Consent,
    /// Ignored input.
    pub warnings: Vec<Warning>,
}

/// One reason something was withheld.
#[derive(Debug, Clone, Serialize)]
pub struct WithheldSegment {
    /// The segment, for reasons about one segment (only ever with `advertise` consent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Why.
    pub reason: Withheld,
}

impl WithheldSegment {
    fn all(reason: Withheld) -> Self {
        WithheldSegment { segment: None, reason }
    }
}

/// Everything evaluation needs besides the request.
pub struct RtbContext<'a> {
    /// Active rules.
    pub rules: &'a RuleSet,
    /// Signal extraction (PII firewall, referrer lists).
    pub extractor: &'a SignalExtractor,
    /// Consent resolution.
    pub consent: &'a ConsentPolicy,
    /// `user.data[].name`.
    pub provider: &'a str,
    /// Minimum distinct visitors and distinct networks.
    pub k: u64,
    /// The rolling 7-day distinct visitors and networks of a segment.
    pub rolling_uniques: &'a dyn Fn(&str) -> Seen,
    /// The HTTP request carried `Sec-GPC: 1` (a browser calling from Prebid).
    pub sec_gpc: bool,
}

fn device_from_type(t: i64) -> Option<DeviceClass> {
    // OpenRTB List 5.21: 1 mobile/tablet, 2 PC, 3 CTV, 4 phone, 5 tablet, 6 connected device, 7 set-top box.
    match t {
        1 | 4 => Some(DeviceClass::Mobile),
        2 => Some(DeviceClass::Desktop),
        5 => Some(DeviceClass::Tablet),
        3 | 7 => Some(DeviceClass::Tv),
        6 => Some(DeviceClass::Other),
        _ => None,
    }
}

fn gpc(v: Option<&Value>) -> bool {
    match v {
        Some(Value::String(s)) => s.trim() == "1",
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::Bool(b)) => *b,
        _ => false,
    }
}

/// Request fields the page signals were read under, renamed to where they are in a bid request.
fn bid_field(field: &str, url_field: &str) -> String {
    match field {
        "page.url" => url_field.to_string(),
        "site" => "site.domain".to_string(),
        "page.referrer" => "site.ref".to_string(),
        "page.category" => match url_field {
            "site.page" | "site.domain" => "site.cat".to_string(),
            "dooh.domain" => "dooh.venuetype".to_string(),
            _ => "app.cat".to_string(),
        },
        other => other.to_string(),
    }
}

/// The signals of a bid request: page, device and (for a server caller) country.
fn signals(
    req: &BidRequest,
    caller: Caller<'_>,
    ctx: &RtbContext<'_>,
    now: SystemTime,
    warnings: &mut Vec<Warning>,
) -> Result<(Signals, bool), SignalError> {
    let inv = inventory::infer(req.site.as_ref(), req.app.as_ref(), req.dooh.as_ref(), warnings);
    let device = req.device.as_ref();
    let sua = device.and_then(|d| d.sua.as_ref());
    let hints = ClientHints {
        mobile: sua.and_then(|s| s.mobile).map(|m| m == 1),
        platform: sua.and_then(|s| s.platform.as_ref()).and_then(|p| p.brand.as_deref()),
    };
    let country = match caller {
        Caller::Server => device
            .and_then(|d| d.geo.as_ref())
            .and_then(|g| g.country.as_deref())
            .and_then(country::parse),
        Caller::Browser {
            country: Some(header), ..
        } => Country::parse(header),
        Caller::Browser { country: None, located } => located,
    };
    let meta = RequestMeta {
        user_agent: device.and_then(|d| d.ua.as_deref()),
        client_hints: hints,
        accept_language: None,
        country: None,
        located: None,
    };
    let mut signals = match &inv.view {
        Some(view) => {
            let extracted = ctx.extractor.extract(view, meta, now).map_err(|e| match e {
                SignalError::Invalid { field, message } => SignalError::Invalid {
                    field: bid_field(&field, inv.url_field),
                    message,
                },
                SignalError::PersonalData { field, kind } => SignalError::PersonalData {
                    field: bid_field(&field, inv.url_field),
                    kind,
                },
            })?;
            warnings.extend(extracted.warnings.into_iter().map(|mut w| {
                w.field = bid_field(&w.field, inv.url_field);
                w
            }));
            extracted.signals
        }
        None => Signals {
            device: DeviceClass::classify(meta.user_agent, hints),
            time: Some(LocalTime::at(now, 0)),
            ..Signals::default()
        },
    };
    if inv.host_only {
        // Only the host is known; a path would be a guess.
        signals.page_path = None;
    }
    signals.country = country;
    if signals.device.is_none() {
        signals.device = device.and_then(|d| d.devicetype).and_then(device_from_type);
    }
    Ok((signals, inv.view.is_some()))
}

/// Evaluates one bid request from `caller`.
pub fn evaluate(
    req: BidRequest,
    caller: Caller<'_>,
    ctx: &RtbContext<'_>,
    now: SystemTime,
) -> Result<Answer, SignalError> {
    let mut warnings = Vec::new();
    let (signals, has_inventory) = signals(&req, caller, ctx, now, &mut warnings)?;

    let regs = req.regs.unwrap_or_default();
    let regs_ext = regs.ext.unwrap_or_default();
    let user = req.user.unwrap_or_default();
    // `regs.gdpr = 1` always makes the answer stricter. `regs.gdpr = 0` never lowers the bar by itself:
    // the country does, and only a server caller's country is believed (see `Caller`).
    let gdpr = regs.gdpr.or(regs_ext.gdpr) == Some(1);
    let tcf = user
        .consent
        .or_else(|| user.ext.and_then(|e| e.consent))
        .filter(|s| !s.trim().is_empty());
    let us_privacy = regs.us_privacy.or(regs_ext.us_privacy);
    let gpp = regs.gpp.or(regs_ext.gpp);
    let gpp_sid = regs.gpp_sid.or(regs_ext.gpp_sid);
    let strings = ConsentStrings {
        tcf: tcf.as_deref(),
        gpp: gpp.as_deref(),
        gpp_sid: gpp_sid.as_deref(),
        us_privacy: us_privacy.as_deref(),
        // Every form of GPC denies `advertise`: the header, `regs.gpc` and `regs.ext.gpc`.
        gpc: ctx.sec_gpc || gpc(regs.gpc.as_ref()) || gpc(regs_ext.gpc.as_ref()),
        google_consent_mode: regs_ext.google_consent_mode,
        // A bid request speaks for no visitor's own choice.
        withdrawn: crate::domain::consent::Purposes::NONE,
    };
    // Where GDPR applies the country cannot lower the bar: an unknown country is opt-in. A bid
    // request has no visitor, so no explicit record.
    let input = strings.input(if gdpr { None } else { signals.country }, None);
    let consent = ctx.consent.resolve(&input, &mut warnings);

    let mut released = Vec::new();
    let mut withheld = Vec::new();
    let mut audience: Vec<Value> = Vec::new();
    let mut content: Vec<Value> = Vec::new();
    if !consent.purposes.advertise {
        // One reason, no segment ids: which segments a page matches is not the integrator's to learn.
        let reason = if gdpr && tcf.is_none() {
            Withheld::GdprWithoutConsentString
        } else {
            Withheld::NoAdvertiseConsent
        };
        withheld.push(WithheldSegment::all(reason));
    } else {
        let matches = ctx.rules.match_segments(&signals);
        let matched: Vec<_> = matches.iter().map(|i| &ctx.rules.segments[i]).collect();
        // A sensitive page releases nothing and answers exactly as a page that matches nothing.
        let sensitive_page = matched.iter().any(|s| s.sensitive.is_some());
        let candidates = if sensitive_page { Vec::new() } else { matched };
        for s in &candidates {
            let reason = if s.session_based && !consent.profile_advertise {
                Some(Withheld::NeedsProfileConsent)
            } else if s.audience_taxonomy.is_empty() && s.content_taxonomy.is_empty() {
                Some(Withheld::NoTaxonomy)
            } else if !k_anonymous(ctx.k, (ctx.rolling_uniques)(&s.id)) {
                Some(Withheld::BelowK)
            } else {
                None
            };
            match reason {
                Some(reason) => withheld.push(WithheldSegment {
                    segment: Some(s.id.clone()),
                    reason,
                }),
                None => {
                    released.push(s.id.clone());
                    for id in &s.audience_taxonomy {
                        if !audience.iter().any(|v| v["id"] == id.as_str()) {
                            audience.push(serde_json::json!({"id": id}));
                        }
                    }
                    for id in &s.content_taxonomy {
                        if !content.iter().any(|v| v["id"] == id.as_str()) {
                            content.push(serde_json::json!({"id": id}));
                        }
                    }
                }
            }
        }
        if candidates.is_empty() {
            withheld.push(WithheldSegment::all(if has_inventory {
                Withheld::NoSegment
            } else {
                Withheld::NoInventory
            }));
        }
    }
    let data = |segtax: u32, segment: Vec<Value>| serde_json::json!({"data": [{"name": ctx.provider, "ext": {"segtax": segtax}, "segment": segment}]});
    Ok(Answer {
        user: (!audience.is_empty()).then(|| data(4, audience)),
        site: (!content.is_empty()).then(|| serde_json::json!({"content": data(7, content)})),
        personify: Explanation {
            released,
            withheld,
            consent,
            warnings,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example rules, default settings, and every segment `seen` times from as many networks.
    fn with_ctx<T>(seen: f64, f: impl FnOnce(&RtbContext<'_>) -> T) -> T {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("segment_rules");
        let rules = crate::domain::rules::load_dir(&dir).expect("example rules");
        let extractor = crate::domain::testing::signal_extractor();
        let policy = crate::domain::testing::consent_policy();
        let rolling = |_: &str| Seen {
            visitors: seen,
            networks: seen,
        };
        f(&RtbContext {
            rules: &rules,
            extractor: &extractor,
            consent: &policy,
            provider: "personify",
            k: 50,
            rolling_uniques: &rolling,
            sec_gpc: false,
        })
    }

    fn answer(body: &str, caller: Caller<'_>) -> Answer {
        let req: BidRequest = serde_json::from_str(body).expect("bid request");
        with_ctx(1_000.0, |ctx| {
            evaluate(req, caller, ctx, SystemTime::now()).expect("answer")
        })
    }

    const US_IN_BODY: &str = r#"{"site":{"page":"https://bank.example/mortgages/fixed-rate"},"device":{"geo":{"country":"USA"}},"regs":{"gdpr":0}}"#;

    #[test]
    fn a_server_caller_is_believed_on_country_and_gdpr_0() {
        let a = answer(US_IN_BODY, Caller::Server);
        assert_eq!(a.personify.released, ["mortgage_intent"]);
    }

    #[test]
    fn a_browser_caller_is_judged_by_the_trusted_country_header_not_the_body() {
        // The body claims the US and no GDPR; the trusted header says Germany: opt-in, nothing released.
        let a = answer(
            US_IN_BODY,
            Caller::Browser {
                country: Some("DE"),
                located: None,
            },
        );
        assert!(a.personify.released.is_empty());
        assert!(!a.personify.consent.purposes.advertise);
        // No trusted header: the strictest default, whatever the body says.
        let a = answer(
            US_IN_BODY,
            Caller::Browser {
                country: None,
                located: None,
            },
        );
        assert!(!a.personify.consent.purposes.advertise);
        // A trusted US header: the opt-out default applies.
        let a = answer(
            US_IN_BODY,
            Caller::Browser {
                country: Some("US"),
                located: None,
            },
        );
        assert_eq!(a.personify.released, ["mortgage_intent"]);
        // regs.gdpr = 1 from a browser still makes the answer stricter.
        let eu = US_IN_BODY.replace(r#""gdpr":0"#, r#""gdpr":1"#);
        let a = answer(
            &eu,
            Caller::Browser {
                country: Some("US"),
                located: None,
            },
        );
        assert!(!a.personify.consent.purposes.advertise);
    }

    #[test]
    fn device_sua_names_the_tablet_the_reduced_user_agent_hides() {
        let ua = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
        let class = |sua: &str| {
            let body = format!(r#"{{"device":{{"ua":"{ua}","sua":{sua}}}}}"#);
            let req: BidRequest = serde_json::from_str(&body).expect("bid request");
            with_ctx(0.0, |ctx| {
                let (s, _) = signals(&req, Caller::Server, ctx, SystemTime::now(), &mut Vec::new()).expect("signals");
                s.device
            })
        };
        assert_eq!(
            class(r#"{"mobile":0,"platform":{"brand":"Android"}}"#),
            Some(DeviceClass::Tablet)
        );
        assert_eq!(
            class(r#"{"mobile":1,"platform":{"brand":"Android"}}"#),
            Some(DeviceClass::Mobile)
        );
        assert_eq!(class("{}"), Some(DeviceClass::Mobile));
    }
}
