//! Why a page view gets what it gets: the page view is given as signals ([`ExplainRequest`]), run
//! through the page-view pipeline ([`crate::domain::pageview::view`]) exactly as `/v1/decide` runs it, and described
//! ([`Explanation`]). `personify explain` prints it; `POST /v1/admin/explain` answers it as JSON.
//! Nothing is counted and no consent record is read: consent is assumed or resolved from the strings
//! given.

use std::net::IpAddr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::domain::consent::{Consent, Purposes, Record};
use crate::domain::pageview::decide::{Decision, Reason};
use crate::domain::pageview::view::{ConsentStrings, Records, ViewContext, ViewInput};
use crate::domain::rules::RuleSet;
use crate::domain::signals::{CountrySource, Located, PageFields, RequestMeta, SessionSummary, SignalError, Warning};

/// How consent is decided for an explained page view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExplainConsent {
    /// As if the visitor explicitly consented to everything: the most the rules can show.
    #[default]
    Granted,
    /// Resolved from the TC string, US privacy string, GPC and the country's jurisdiction default.
    Default,
}

/// A hypothetical page view, given as what the request would carry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExplainRequest {
    /// Page URL.
    pub url: String,
    /// Referrer URL.
    #[serde(default)]
    pub referrer: Option<String>,
    /// Page category.
    #[serde(default)]
    pub category: Option<String>,
    /// Country (ISO alpha-2) as the trusted country header would give it.
    #[serde(default)]
    pub country: Option<String>,
    /// A client address to look up with the node's geo sources when `country` is not given. Only
    /// its country is used; the address itself goes nowhere.
    #[serde(default)]
    pub address: Option<String>,
    /// User-Agent, reduced to a device class.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// `Accept-Language` value.
    #[serde(default)]
    pub accept_language: Option<String>,
    /// Local offset from UTC in minutes.
    #[serde(default)]
    pub tz_offset_minutes: Option<i64>,
    /// Session summary: pages viewed.
    #[serde(default)]
    pub pages_viewed: Option<u32>,
    /// Session summary: content categories seen.
    #[serde(default)]
    pub session_categories: Vec<String>,
    /// Session summary: returning visitor.
    #[serde(default)]
    pub returning: bool,
    /// `Sec-GPC: 1` (with `consent: default`).
    #[serde(default)]
    pub gpc: bool,
    /// A TCF TC string (with `consent: default`).
    #[serde(default)]
    pub tcf: Option<String>,
    /// A US privacy string (with `consent: default`).
    #[serde(default)]
    pub us_privacy: Option<String>,
    /// How consent is decided.
    #[serde(default)]
    pub consent: ExplainConsent,
    /// First-party visitor id (decides the experiment arm shown).
    #[serde(default)]
    pub visitor_id: Option<String>,
}

impl ExplainRequest {
    /// The address to look up: none when `country` is given (a header always wins), an error naming
    /// the field (never echoing it) when it is not an address.
    pub fn address(&self) -> Result<Option<IpAddr>, SignalError> {
        match (&self.country, self.address.as_deref().map(str::trim)) {
            (None, Some(raw)) if !raw.is_empty() => raw.parse::<IpAddr>().map(Some).map_err(|_| SignalError::Invalid {
                field: "address".into(),
                message: "is not an IPv4 or IPv6 address".into(),
            }),
            _ => Ok(None),
        }
    }

    /// The pipeline input for this page view at `now`, with the country `located` from
    /// [`Self::address`]. No client address: the cookieless key of an explained view depends on the
    /// User-Agent only.
    pub fn input(&self, now: SystemTime, located: Option<Located>) -> ViewInput<'_> {
        let session =
            (self.pages_viewed.is_some() || !self.session_categories.is_empty() || self.returning).then(|| {
                SessionSummary {
                    pages_viewed: self.pages_viewed.unwrap_or(0),
                    categories: self.session_categories.clone(),
                    returning: self.returning,
                }
            });
        let consent = match self.consent {
            ExplainConsent::Granted => ConsentStrings::default(),
            ExplainConsent::Default => ConsentStrings {
                tcf: self.tcf.as_deref(),
                us_privacy: self.us_privacy.as_deref(),
                gpc: self.gpc,
                ..ConsentStrings::default()
            },
        };
        ViewInput {
            page: PageFields {
                site: None,
                url: self.url.clone(),
                referrer: self.referrer.clone(),
                category: self.category.clone(),
                session,
                tz_offset_minutes: self.tz_offset_minutes,
            },
            visitor_id: self.visitor_id.as_deref(),
            meta: RequestMeta {
                user_agent: self.user_agent.as_deref(),
                client_hints: Default::default(),
                accept_language: self.accept_language.as_deref(),
                country: self.country.as_deref(),
                located,
            },
            consent,
            client: None,
            now,
        }
    }

    /// Where the explicit record comes from: assumed (`granted`) or none; never the consent book.
    pub fn records(&self) -> Records<'static> {
        match self.consent {
            ExplainConsent::Granted => Records::Assumed(Record {
                purposes: Purposes::ALL,
                opted_out: false,
                recorded_at: 0,
            }),
            ExplainConsent::Default => Records::Ignored,
        }
    }
}

/// What a page view gets, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// Every signal the rules could read, by name.
    pub signals: serde_json::Map<String, serde_json::Value>,
    /// Where `geo.country` came from: `header`, `database` or `builtin`; null when unknown.
    pub country_source: Option<CountrySource>,
    /// Purposes that applied, and why.
    pub consent: Consent,
    /// Matched segments, highest priority first.
    pub segments: Vec<ExplainedSegment>,
    /// Each slot's variant, content and reason, by slot id.
    pub decisions: serde_json::Map<String, serde_json::Value>,
    /// What was ignored and why.
    pub warnings: Vec<Warning>,
    /// The rules the decision was made on.
    pub rules_version: String,
    /// Whether consent was assumed (`granted`) rather than resolved.
    #[serde(skip)]
    pub assumed: bool,
}

/// A matched segment.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainedSegment {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Priority.
    pub priority: i64,
    /// `file:line` of its definition.
    pub defined_at: String,
    /// Its sensitive category, shown in the text form only.
    #[serde(skip)]
    pub sensitive: Option<String>,
}

impl Explanation {
    /// Describes `decision`, made by [`ViewContext::decide`] on `rules` for `view`.
    pub fn new(rules: &RuleSet, view: &ViewContext, decision: &Decision<'_>, assumed: bool) -> Explanation {
        let decisions = decision
            .slots
            .iter()
            .map(|d| {
                let content: serde_json::Value = serde_json::from_str(d.variant.content.get()).unwrap_or_default();
                (
                    d.slot.id.clone(),
                    serde_json::json!({"variant": d.variant.id, "content": content, "because": reason_text(&d.reason, rules)}),
                )
            })
            .collect();
        let mut warnings = view.warnings.clone();
        warnings.extend(decision.warnings.iter().cloned());
        Explanation {
            signals: view.signals.to_json(),
            country_source: view.country_source,
            consent: view.consent,
            segments: decision
                .segments
                .iter()
                .map(|s| ExplainedSegment {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    priority: s.priority,
                    defined_at: s.defined_at.clone(),
                    sensitive: s.sensitive.clone(),
                })
                .collect(),
            decisions,
            warnings,
            rules_version: rules.version.clone(),
            assumed,
        }
    }

    /// The text `personify explain` prints.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str("signals:\n");
        for (k, v) in &self.signals {
            match self.country_source.filter(|_| k == "geo.country") {
                Some(source) => out.push_str(&format!("  {k} = {v} (from the {})\n", source.describe())),
                None => out.push_str(&format!("  {k} = {v}\n")),
            }
        }
        let p = self.consent.purposes;
        let basis = if self.assumed {
            "assumed explicit consent (--consent granted)".to_string()
        } else {
            serde_json::to_value(self.consent.basis)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        out.push_str(&format!(
            "consent: personalize={} measure={} advertise={} (basis: {basis})\n",
            p.personalize, p.measure, p.advertise
        ));
        out.push_str("segments:\n");
        if self.segments.is_empty() {
            out.push_str("  (none)\n");
        }
        for s in &self.segments {
            let flag = s
                .sensitive
                .as_deref()
                .map(|c| format!(" [sensitive: {c}]"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {} \"{}\" priority {}{} ({})\n",
                s.id, s.name, s.priority, flag, s.defined_at
            ));
        }
        out.push_str("decisions:\n");
        for (slot, d) in &self.decisions {
            out.push_str(&format!(
                "  {}: {} because {}\n",
                slot,
                d["variant"].as_str().unwrap_or_default(),
                d["because"].as_str().unwrap_or_default()
            ));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {}: {}\n", w.field, w.message));
        }
        out.push_str(&format!("rules {}", self.rules_version));
        out
    }
}

/// Why a slot shows its variant, in words.
pub fn reason_text(reason: &Reason<'_>, set: &RuleSet) -> String {
    match reason {
        Reason::NoConsent => "no personalize consent: the slot default".into(),
        Reason::SensitivePage => "the page matches a sensitive segment and consent is not explicit: the default".into(),
        Reason::NoRule => "no matched segment has a rule for this slot: the default".into(),
        Reason::Segment(s) => format!("segment {} (priority {}) maps to it", s.id, s.priority),
        Reason::Preview => "a preview token forces it".into(),
        Reason::Experiment {
            segment,
            experiment,
            arm,
        } => {
            let arms: Vec<String> = set
                .experiment(&experiment.id)
                .map(|e| {
                    e.arm_labels()
                        .zip(&e.experiment.arms)
                        .map(|(label, a)| format!("{label} {}%", a.weight))
                        .collect()
                })
                .unwrap_or_default();
            let which = if arm.is_some() {
                "an arm"
            } else {
                "the holdout (default)"
            };
            format!(
                "segment {} runs experiment {} (holdout {}%, arms {}); this visitor key fell in {which}",
                segment.id,
                experiment.id,
                experiment.holdout_bp / 100,
                arms.join(", ")
            )
        }
    }
}
