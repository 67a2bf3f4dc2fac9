//! Signals: typed, coarse, allow-listed facts about the current page view — the only input rules see.
//!
//! Request input is parsed here into [`PageView`] (or refused with a [`SignalError`] naming the field),
//! then [`SignalExtractor::extract`] turns it into [`Signals`], passing every free-text value through
//! the PII firewall. Raw User-Agents, IPs and query strings never leave this module.

pub mod catalogue;
pub mod clock;
pub mod device;
pub mod geo;
pub mod locale;
pub mod pii;
pub mod warnings;
pub mod web;

use std::time::SystemTime;

use serde::Serialize;

pub use catalogue::{SignalId, SignalKind};
pub use clock::LocalTime;
pub use device::{ClientHints, DeviceClass};
pub use geo::{CountrySource, Located};
pub use locale::Country;
pub use pii::PiiKind;
pub use warnings::cap_warnings;
pub use web::{Campaign, PageUrl, ReferrerKind};

use pii::PiiPolicy;

/// Longest free-text value (site, category, session category) accepted.
pub const MAX_TEXT_LEN: usize = 200;
/// Most session categories read.
pub const MAX_SESSION_CATEGORIES: usize = 32;

/// Input that could not become a signal, naming the request field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// A field has a value no page view can have.
    #[error("{field}: {message}")]
    Invalid {
        /// Request field at fault, dotted (`page.url`).
        field: String,
        /// What is wrong, without echoing the value.
        message: String,
    },
    /// A value looks like personal data and the policy is `reject`.
    #[error("{field}: looks like {}; personal data is not accepted", kind.describe())]
    PersonalData {
        /// Request field at fault.
        field: String,
        /// What it looks like.
        kind: PiiKind,
    },
}

impl SignalError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        SignalError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The request field at fault.
    pub fn field(&self) -> &str {
        match self {
            SignalError::Invalid { field, .. } | SignalError::PersonalData { field, .. } => field,
        }
    }
}

/// A note in the response about input that was ignored; never contains the input value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Request field concerned.
    pub field: String,
    /// Explanation for a developer.
    pub message: String,
}

/// The on-device session summary the client sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSummary {
    /// Pages viewed this session.
    pub pages_viewed: u32,
    /// Content categories seen this session.
    pub categories: Vec<String>,
    /// Whether the device has been here before.
    pub returning: bool,
}

/// A page view as parsed from a request body: every value here is well-formed.
#[derive(Debug, Clone)]
pub struct PageView {
    /// Site identifier, if the frontend sends one.
    pub site: Option<String>,
    /// The page.
    pub url: PageUrl,
    /// Raw referrer (only its host survives extraction).
    pub referrer: Option<String>,
    /// Declared page category.
    pub category: Option<String>,
    /// On-device summary.
    pub session: Option<SessionSummary>,
    /// Minutes east of UTC.
    pub tz_offset_minutes: Option<i32>,
}

/// The raw page fields of a request, before anything is checked: what [`PageView::parse`] reads.
#[derive(Debug, Clone, Default)]
pub struct PageFields {
    /// `site`
    pub site: Option<String>,
    /// `page.url`
    pub url: String,
    /// `page.referrer`
    pub referrer: Option<String>,
    /// `page.category`
    pub category: Option<String>,
    /// `session`
    pub session: Option<SessionSummary>,
    /// `tz_offset_minutes`
    pub tz_offset_minutes: Option<i64>,
}

impl PageView {
    /// Builds a page view from raw request fields, refusing malformed ones with the field named.
    pub fn parse(fields: PageFields) -> Result<PageView, SignalError> {
        let PageFields {
            site,
            url,
            referrer,
            category,
            session,
            tz_offset_minutes,
        } = fields;
        let url = PageUrl::parse(&url).map_err(|e| SignalError::invalid("page.url", e.to_string()))?;
        let site = text_field("site", site)?;
        let category = text_field("page.category", category)?;
        let tz_offset_minutes = match tz_offset_minutes {
            None => None,
            Some(m) => match i32::try_from(m) {
                Ok(m) if clock::TZ_OFFSET_RANGE.contains(&m) => Some(m),
                _ => {
                    return Err(SignalError::invalid(
                        "tz_offset_minutes",
                        "must be between -720 and 840 (minutes east of UTC)",
                    ))
                }
            },
        };
        if let Some(s) = &session {
            if s.categories.len() > MAX_SESSION_CATEGORIES {
                return Err(SignalError::invalid(
                    "session.categories",
                    format!("at most {MAX_SESSION_CATEGORIES} categories"),
                ));
            }
            for (i, c) in s.categories.iter().enumerate() {
                if c.len() > MAX_TEXT_LEN {
                    return Err(SignalError::invalid(
                        format!("session.categories[{i}]"),
                        format!("longer than {MAX_TEXT_LEN} characters"),
                    ));
                }
            }
        }
        Ok(PageView {
            site,
            url,
            referrer,
            category,
            session,
            tz_offset_minutes,
        })
    }
}

fn text_field(field: &'static str, v: Option<String>) -> Result<Option<String>, SignalError> {
    match v {
        Some(s) if s.len() > MAX_TEXT_LEN => Err(SignalError::invalid(
            field,
            format!("longer than {MAX_TEXT_LEN} characters"),
        )),
        Some(s) if s.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// Request headers that may carry signals; borrowed for the request, never stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestMeta<'a> {
    /// `User-Agent`: reduced to a device class.
    pub user_agent: Option<&'a str>,
    /// User-Agent Client Hints: refine the device class.
    pub client_hints: ClientHints<'a>,
    /// `Accept-Language`: reduced to the primary language.
    pub accept_language: Option<&'a str>,
    /// The configured country header, from a trusted proxy.
    pub country: Option<&'a str>,
    /// The country of the client address, looked up only when no country header was sent.
    pub located: Option<Located>,
}

/// Everything a rule can read about one page view.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// `site`
    pub site: Option<String>,
    /// `page.host`
    pub page_host: Option<String>,
    /// `page.path`
    pub page_path: Option<String>,
    /// `page.category`
    pub page_category: Option<String>,
    /// `campaign.*`
    pub campaign: Campaign,
    /// `referrer.host`
    pub referrer_host: Option<String>,
    /// `referrer.kind`
    pub referrer_kind: Option<ReferrerKind>,
    /// `device.class`
    pub device: Option<DeviceClass>,
    /// `geo.country`
    pub country: Option<Country>,
    /// `lang`
    pub lang: Option<String>,
    /// `time.hour`, `time.weekday`
    pub time: Option<LocalTime>,
    /// `session.*`
    pub session: Option<SessionSummary>,
}

/// A signal's value as rules see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SignalValue<'a> {
    /// Text or enum word.
    Text(&'a str),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// List of text.
    List(&'a [String]),
    /// Not present on this page view.
    Absent,
}

impl Signals {
    /// Reads one signal.
    pub fn get(&self, id: SignalId) -> SignalValue<'_> {
        use SignalValue::{Absent, Bool, Int, List, Text};
        fn text(v: &Option<String>) -> SignalValue<'_> {
            v.as_deref().map_or(SignalValue::Absent, SignalValue::Text)
        }
        match id {
            SignalId::Site => text(&self.site),
            SignalId::PageHost => text(&self.page_host),
            SignalId::PagePath => text(&self.page_path),
            SignalId::PageCategory => text(&self.page_category),
            SignalId::CampaignSource => text(&self.campaign.source),
            SignalId::CampaignMedium => text(&self.campaign.medium),
            SignalId::CampaignName => text(&self.campaign.name),
            SignalId::CampaignTerm => text(&self.campaign.term),
            SignalId::CampaignContent => text(&self.campaign.content),
            SignalId::ReferrerHost => text(&self.referrer_host),
            SignalId::ReferrerKind => self.referrer_kind.map_or(Absent, |k| Text(k.as_str())),
            SignalId::DeviceClass => self.device.map_or(Absent, |d| Text(d.as_str())),
            SignalId::GeoCountry => self.country.as_ref().map_or(Absent, |c| Text(c.as_str())),
            SignalId::Lang => text(&self.lang),
            SignalId::TimeHour => self.time.map_or(Absent, |t| Int(i64::from(t.hour))),
            SignalId::TimeWeekday => self
                .time
                .map_or(Absent, |t| Text(catalogue::WEEKDAYS[usize::from(t.weekday % 7)])),
            SignalId::SessionPagesViewed => self.session.as_ref().map_or(Absent, |s| Int(i64::from(s.pages_viewed))),
            SignalId::SessionCategories => self.session.as_ref().map_or(Absent, |s| List(&s.categories)),
            SignalId::SessionReturning => self.session.as_ref().map_or(Absent, |s| Bool(s.returning)),
        }
    }

    /// Signals as a name → value map, for `explain` output.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        for &id in SignalId::ALL {
            let v = match self.get(id) {
                SignalValue::Text(s) => serde_json::Value::from(s),
                SignalValue::Int(i) => serde_json::Value::from(i),
                SignalValue::Bool(b) => serde_json::Value::from(b),
                SignalValue::List(l) => serde_json::Value::from(l.to_vec()),
                SignalValue::Absent => continue,
            };
            map.insert(id.name().to_string(), v);
        }
        map
    }
}

/// Turns page views into signals under the configured PII policy and referrer lists.
#[derive(Debug, Clone)]
pub struct SignalExtractor {
    policy: PiiPolicy,
    referrers: web::ReferrerClassifier,
}

/// The result of extraction: signals plus warnings about what was dropped.
#[derive(Debug, Clone, Default)]
pub struct Extracted {
    /// What rules will read.
    pub signals: Signals,
    /// What was ignored and why.
    pub warnings: Vec<Warning>,
    /// Where `geo.country` came from (none when unknown).
    pub country_source: Option<CountrySource>,
}

impl SignalExtractor {
    /// Prepares an extractor: what to do with personal-looking values, and the referrer lists.
    pub fn new(policy: PiiPolicy, referrers: &web::ReferrerLists) -> Self {
        SignalExtractor {
            policy,
            referrers: web::ReferrerClassifier::new(referrers),
        }
    }

    /// Extracts the signals of one page view at `now`.
    pub fn extract(&self, view: &PageView, meta: RequestMeta<'_>, now: SystemTime) -> Result<Extracted, SignalError> {
        let mut out = Extracted::default();
        let mut firewall = Firewall {
            policy: self.policy,
            warnings: &mut out.warnings,
        };
        let s = &mut out.signals;

        let host = view.url.host().to_string();
        s.site = firewall
            .screen("site", "site", view.site.clone())?
            .or_else(|| Some(host.clone()));
        s.page_path = firewall.screen_path(view.url.path())?;
        s.page_category = firewall.screen("page.category", "page.category", view.category.clone())?;
        let campaign = view.url.campaign();
        s.campaign = Campaign {
            source: firewall.screen("page.url", "campaign.source", campaign.source)?,
            medium: firewall.screen("page.url", "campaign.medium", campaign.medium)?,
            name: firewall.screen("page.url", "campaign.name", campaign.name)?,
            term: firewall.screen("page.url", "campaign.term", campaign.term)?,
            content: firewall.screen("page.url", "campaign.content", campaign.content)?,
        };

        let referrer_host = match view.referrer.as_deref().map(web::referrer_host).transpose() {
            Ok(h) => h.flatten(),
            Err(e) => {
                firewall.warnings.push(Warning {
                    code: "referrer_ignored",
                    field: "page.referrer".into(),
                    message: format!("the referrer {e}; referrer.host was not set"),
                });
                None
            }
        };
        let referrer_host = firewall.screen("page.referrer", "referrer.host", referrer_host)?;
        s.referrer_kind = Some(match (&referrer_host, &view.referrer) {
            (None, Some(r)) if !r.trim().is_empty() => ReferrerKind::Other,
            _ => self.referrers.classify(referrer_host.as_deref(), &host, &s.campaign),
        });
        s.referrer_host = referrer_host;
        s.page_host = Some(host);

        s.device = DeviceClass::classify(meta.user_agent, meta.client_hints);
        // A header that was sent decides, even when it says "unknown" (`XX`, Tor's `T1`).
        (s.country, out.country_source) = match (meta.country, meta.located) {
            (Some(header), _) => match Country::parse(header) {
                Some(c) => (Some(c), Some(CountrySource::Header)),
                None => (None, None),
            },
            (None, Some(l)) => (Some(l.country), Some(l.source)),
            (None, None) => (None, None),
        };
        s.lang = meta.accept_language.and_then(locale::primary_language);
        s.time = Some(LocalTime::at(now, view.tz_offset_minutes.unwrap_or(0)));

        if let Some(session) = &view.session {
            let mut categories = Vec::with_capacity(session.categories.len());
            for (i, c) in session.categories.iter().enumerate() {
                let field = format!("session.categories[{i}]");
                if let Some(c) = firewall.screen(&field, "session.categories", Some(c.clone()))? {
                    categories.push(c);
                }
            }
            s.session = Some(SessionSummary {
                pages_viewed: session.pages_viewed,
                categories,
                returning: session.returning,
            });
        }
        Ok(out)
    }
}

/// Applies the PII policy to one value at a time, collecting warnings.
struct Firewall<'w> {
    policy: PiiPolicy,
    warnings: &'w mut Vec<Warning>,
}

impl Firewall<'_> {
    fn screen(&mut self, field: &str, signal: &str, value: Option<String>) -> Result<Option<String>, SignalError> {
        let Some(v) = value else { return Ok(None) };
        match pii::detect(&v) {
            None => Ok(Some(v)),
            Some(kind) => self.flag(field, signal, kind).map(|()| None),
        }
    }

    /// Screens the path segment by segment, percent-decoded, so `/u/jane%40example.com` is caught.
    fn screen_path(&mut self, path: &str) -> Result<Option<String>, SignalError> {
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
        let hit = decoded
            .split('/')
            .find_map(pii::detect)
            .or_else(|| pii::detect(&decoded));
        match hit {
            None => Ok(Some(path.to_string())),
            Some(kind) => self.flag("page.url", "page.path", kind).map(|()| None),
        }
    }

    fn flag(&mut self, field: &str, signal: &str, kind: PiiKind) -> Result<(), SignalError> {
        match self.policy {
            PiiPolicy::Reject => Err(SignalError::PersonalData {
                field: field.to_string(),
                kind,
            }),
            PiiPolicy::Scrub => {
                self.warnings.push(Warning {
                    code: "pii_scrubbed",
                    field: field.to_string(),
                    message: format!(
                        "a value looks like {}; the signal {signal} was dropped",
                        kind.describe()
                    ),
                });
                Ok(())
            }
        }
    }
}
