//! Ad/RTB targeting: an OpenRTB 2.6 BidRequest (only what is needed, unknown fields ignored) →
//! IAB taxonomy buckets ready to merge into `user.data` and `site.content.data`, released only with
//! `advertise` consent, only for k-anonymous, non-sensitive segments, never on a sensitive page.

pub mod country;
pub mod taxonomy;

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::consent::{Consent, ConsentInput, ConsentPolicy};
use crate::counts::report::{k_anonymous, Seen};
use crate::rules::RuleSet;
use crate::signals::{DeviceClass, PageView, RequestMeta, SignalError, SignalExtractor, Signals, Warning};

/// OpenRTB 2.6 BidRequest: the fields personify reads.
#[derive(Debug, Default, Deserialize)]
pub struct BidRequest {
    /// Request id (echoed so batch callers can match answers).
    pub id: Option<String>,
    /// Web inventory.
    pub site: Option<Site>,
    /// App inventory.
    pub app: Option<App>,
    /// Device.
    pub device: Option<Device>,
    /// User (only the consent string is read; ids never are).
    pub user: Option<User>,
    /// Regulations.
    pub regs: Option<Regs>,
}

/// `site`
#[derive(Debug, Default, Deserialize)]
pub struct Site {
    /// Page URL.
    pub page: Option<String>,
    /// Referrer URL.
    #[serde(rename = "ref")]
    pub referrer: Option<String>,
    /// Site domain.
    pub domain: Option<String>,
}

/// `app`
#[derive(Debug, Default, Deserialize)]
pub struct App {
    /// Bundle id (`com.bank.example`).
    pub bundle: Option<String>,
    /// Store URL.
    pub storeurl: Option<String>,
}

/// `device`
#[derive(Debug, Default, Deserialize)]
pub struct Device {
    /// User-Agent (reduced to a device class).
    pub ua: Option<String>,
    /// OpenRTB device type (List 5.21).
    pub devicetype: Option<i64>,
    /// Coarse location.
    pub geo: Option<Geo>,
}

/// `device.geo`
#[derive(Debug, Default, Deserialize)]
pub struct Geo {
    /// ISO 3166-1 alpha-3.
    pub country: Option<String>,
}

/// `user`
#[derive(Debug, Default, Deserialize)]
pub struct User {
    /// TC string (2.6 location).
    pub consent: Option<String>,
    /// 2.5 extensions.
    pub ext: Option<UserExt>,
}

/// `user.ext`
#[derive(Debug, Default, Deserialize)]
pub struct UserExt {
    /// TC string (2.5 location).
    pub consent: Option<String>,
}

/// `regs`
#[derive(Debug, Default, Deserialize)]
pub struct Regs {
    /// 1 when GDPR applies (2.6 location).
    pub gdpr: Option<i64>,
    /// US privacy string (2.6 location).
    pub us_privacy: Option<String>,
    /// GPP string.
    pub gpp: Option<String>,
    /// Applicable GPP sections.
    pub gpp_sid: Option<Vec<u16>>,
    /// Global Privacy Control (2.6 location): `1`, `"1"` or `true`.
    pub gpc: Option<Value>,
    /// 2.5 extensions and GPC.
    pub ext: Option<RegsExt>,
}

/// `regs.ext`
#[derive(Debug, Default, Deserialize)]
pub struct RegsExt {
    /// 1 when GDPR applies (2.5 location).
    pub gdpr: Option<i64>,
    /// US privacy string (2.5 location).
    pub us_privacy: Option<String>,
    /// Global Privacy Control: `"1"`, `1` or `true`.
    pub gpc: Option<Value>,
}

/// Why a segment was not released (no personal data, for the integrator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Withheld {
    /// No `advertise` consent (see `consent.basis`).
    NoAdvertiseConsent,
    /// GDPR applies and the request carries no TC string.
    GdprWithoutConsentString,
    /// The page matches a sensitive segment: nothing is released for it.
    SensitivePage,
    /// The segment itself is sensitive.
    SensitiveSegment,
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
    /// The request's `id`, if it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
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
    /// Matched segments not released, with the reason.
    pub withheld: Vec<WithheldSegment>,
    /// Consent as resolved from the bid request.
    pub consent: Consent,
    /// Ignored input.
    pub warnings: Vec<Warning>,
}

/// One withheld segment.
#[derive(Debug, Clone, Serialize)]
pub struct WithheldSegment {
    /// Segment id (sensitive segments are reported as `sensitive`, never by id).
    pub segment: String,
    /// Why.
    pub reason: Withheld,
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
        3 | 6 | 7 => Some(DeviceClass::Other),
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

/// Evaluates one bid request.
pub fn evaluate(req: BidRequest, ctx: &RtbContext<'_>, now: SystemTime) -> Result<Answer, SignalError> {
    let site = req.site.unwrap_or_default();
    let app = req.app;
    let page = match (&site.page, app.as_ref().and_then(|a| a.bundle.as_deref())) {
        (Some(p), _) => p.clone(),
        // App inventory has no page: the bundle id stands in as the host.
        (None, Some(bundle)) => format!("https://{}/", bundle.trim()),
        (None, None) => {
            return Err(SignalError::Invalid {
                field: "site.page".into(),
                message: "a bid request needs site.page (or app.bundle for app inventory)".into(),
            })
        }
    };
    let field = if site.page.is_some() { "site.page" } else { "app.bundle" };
    let view =
        PageView::parse(site.domain.clone(), &page, site.referrer.clone(), None, None, None).map_err(|e| match e {
            SignalError::Invalid { message, .. } => SignalError::Invalid {
                field: field.into(),
                message,
            },
            other => other,
        })?;
    let device = req.device.unwrap_or_default();
    let country = device
        .geo
        .as_ref()
        .and_then(|g| g.country.as_deref())
        .and_then(country::alpha2);
    let meta = RequestMeta {
        user_agent: device.ua.as_deref(),
        accept_language: None,
        country,
    };
    let extracted = ctx.extractor.extract(&view, meta, now)?;
    let mut signals: Signals = extracted.signals;
    let mut warnings = extracted.warnings;
    if signals.device.is_none() {
        signals.device = device.devicetype.and_then(device_from_type);
    }

    let regs = req.regs.unwrap_or_default();
    let regs_ext = regs.ext.unwrap_or_default();
    let user = req.user.unwrap_or_default();
    let gdpr = regs.gdpr.or(regs_ext.gdpr) == Some(1);
    let tcf = user
        .consent
        .or_else(|| user.ext.and_then(|e| e.consent))
        .filter(|s| !s.trim().is_empty());
    let us_privacy = regs.us_privacy.or(regs_ext.us_privacy);
    let input = ConsentInput {
        // Where GDPR applies the country cannot lower the bar: an unknown country is opt-in.
        country: if gdpr { None } else { signals.country },
        // Every form of GPC denies `advertise`: the header, `regs.gpc` and `regs.ext.gpc`.
        gpc: ctx.sec_gpc || gpc(regs.gpc.as_ref()) || gpc(regs_ext.gpc.as_ref()),
        record: None,
        tcf: tcf.as_deref(),
        gpp: regs.gpp.as_deref(),
        gpp_sid: regs.gpp_sid.as_deref(),
        us_privacy: us_privacy.as_deref(),
    };
    let consent = ctx.consent.resolve(&input, &mut warnings);

    let matches = ctx.rules.match_segments(&signals);
    let matched: Vec<_> = matches.iter().map(|i| &ctx.rules.segments[i]).collect();
    let sensitive_page = matched.iter().any(|s| s.sensitive.is_some());
    let mut released = Vec::new();
    let mut withheld = Vec::new();
    let mut audience: Vec<Value> = Vec::new();
    let mut content: Vec<Value> = Vec::new();
    for s in &matched {
        let reason = if s.sensitive.is_some() {
            Some(Withheld::SensitiveSegment)
        } else if sensitive_page {
            Some(Withheld::SensitivePage)
        } else if gdpr && tcf.is_none() && !consent.purposes.advertise {
            Some(Withheld::GdprWithoutConsentString)
        } else if !consent.purposes.advertise {
            Some(Withheld::NoAdvertiseConsent)
        } else if s.session_based && !consent.profile_advertise {
            Some(Withheld::NeedsProfileConsent)
        } else if s.audience_taxonomy.is_empty() && s.content_taxonomy.is_empty() {
            Some(Withheld::NoTaxonomy)
        } else if !k_anonymous(ctx.k, (ctx.rolling_uniques)(&s.id)) {
            Some(Withheld::BelowK)
        } else {
            None
        };
        match reason {
            // A sensitive segment is never named to an ad integration.
            Some(Withheld::SensitiveSegment) => withheld.push(WithheldSegment {
                segment: "sensitive".into(),
                reason: Withheld::SensitiveSegment,
            }),
            Some(reason) => withheld.push(WithheldSegment {
                segment: s.id.clone(),
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
    let data = |segtax: u32, segment: Vec<Value>| serde_json::json!({"data": [{"name": ctx.provider, "ext": {"segtax": segtax}, "segment": segment}]});
    Ok(Answer {
        id: req.id,
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
