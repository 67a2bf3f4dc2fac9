//! One page view, from the fields a caller received to a decision: the single pipeline behind
//! `/v1/decide`, `/v1/events`, `/v1/admin/explain` and `personify explain`. The RTB path has no visitor
//! and no page body of its own; it runs the same stages (page fields → [`PageView`] → signals, then
//! [`ConsentStrings`] → consent) on what a bid request carries.
//!
//! Nothing here names an HTTP type: the edge reads headers and bodies into a [`ViewInput`], and the
//! client address arrives as an `Option<IpAddr>`, never as text.

use std::net::IpAddr;
use std::time::SystemTime;

use crate::domain::consent::google::ConsentMode;
use crate::domain::consent::{Consent, ConsentBook, ConsentInput, ConsentPolicy, Purposes, Record};
use crate::domain::pageview::decide::{decide, Decision};
use crate::domain::privacy::{ConsentSubject, Keyring, VisitorId, VisitorIdError, VisitorKey};
use crate::domain::rules::RuleSet;
use crate::domain::signals::pii::PiiPolicy;
use crate::domain::signals::{
    pii, Country, CountrySource, DeviceClass, PageFields, PageView, RequestMeta, SignalError, SignalExtractor, Signals,
    Warning,
};

/// The consent signals a request carries besides an explicit record.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsentStrings<'a> {
    /// TCF TC string.
    pub tcf: Option<&'a str>,
    /// GPP string.
    pub gpp: Option<&'a str>,
    /// Applicable GPP section ids.
    pub gpp_sid: Option<&'a [u16]>,
    /// US privacy string.
    pub us_privacy: Option<&'a str>,
    /// Global Privacy Control, from any of the places the caller reads it.
    pub gpc: bool,
    /// Google Consent Mode state (only ever withholds).
    pub google_consent_mode: Option<ConsentMode>,
    /// Purposes the client says were just withdrawn (only ever withholds).
    pub withdrawn: Purposes,
}

impl<'a> ConsentStrings<'a> {
    /// The input of consent resolution for a visitor in `country` with an explicit `record`, if any.
    pub fn input(self, country: Option<Country>, record: Option<&'a Record>) -> ConsentInput<'a> {
        ConsentInput {
            country,
            gpc: self.gpc,
            record,
            tcf: self.tcf,
            gpp: self.gpp,
            gpp_sid: self.gpp_sid,
            us_privacy: self.us_privacy,
            google_consent_mode: self.google_consent_mode,
            withdrawn: self.withdrawn,
        }
    }
}

/// Everything a page view brings, as the caller received it.
#[derive(Debug, Clone)]
pub struct ViewInput<'a> {
    /// The page fields (checked by [`PageView::parse`]).
    pub page: PageFields,
    /// The first-party visitor id as sent, if any.
    pub visitor_id: Option<&'a str>,
    /// Headers that may carry signals.
    pub meta: RequestMeta<'a>,
    /// Consent strings and GPC.
    pub consent: ConsentStrings<'a>,
    /// The client address (trusted forwarded header or TCP peer): the cookieless key and the network
    /// key of counts are derived from it, and it goes nowhere else.
    pub client: Option<IpAddr>,
    /// When the view happened.
    pub now: SystemTime,
}

/// Where a visitor's explicit consent record comes from.
#[derive(Debug, Clone)]
pub enum Records<'a> {
    /// The consent book (the live page-view path).
    Book(&'a ConsentBook),
    /// The same record for every view: `explain` assuming explicit consent to everything.
    Assumed(Record),
    /// No record (an explain that must not read consent state).
    Ignored,
}

/// The configuration and key material a page view is read with.
pub struct Pipeline<'a> {
    /// Page view → signals, with the PII firewall.
    pub extractor: &'a SignalExtractor,
    /// Consent resolution.
    pub consent: &'a ConsentPolicy,
    /// The visitor-key secret and salts.
    pub keyring: &'a Keyring,
    /// Explicit records.
    pub records: Records<'a>,
    /// What a personal-looking visitor id gets.
    pub pii_policy: PiiPolicy,
}

/// A page view that could not be read, naming the field.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// A page field or header.
    #[error(transparent)]
    Signal(#[from] SignalError),
    /// `visitor_id` is not an unguessable id.
    #[error("visitor_id {0}")]
    VisitorId(#[from] VisitorIdError),
}

/// A page view turned into what the domain needs.
#[derive(Debug)]
pub struct ViewContext {
    /// Signals rules read.
    pub signals: Signals,
    /// Purposes that apply.
    pub consent: Consent,
    /// The visitor key (first-party when allowed, cookieless otherwise).
    pub key: VisitorKey,
    /// When the view happened.
    pub now: SystemTime,
    /// The client address, for the network key of counts.
    pub client: Option<IpAddr>,
    /// What experiment units derive from: the visitor's site-independent keyed hash, for a
    /// first-party visitor only (a cookieless key changes daily, so it is not an experiment unit).
    pub unit: Option<ConsentSubject>,
    /// Where `geo.country` came from, for `explain`.
    pub country_source: Option<CountrySource>,
    /// What was ignored and why.
    pub warnings: Vec<Warning>,
}

impl ViewContext {
    /// Whether the view came from a crawler (decided on defaults unless a rule targets bots, never
    /// counted).
    pub fn is_bot(&self) -> bool {
        self.signals.device == Some(DeviceClass::Bot)
    }

    /// Whether this view may be counted: `measure` consent and not a crawler.
    pub fn countable(&self) -> bool {
        self.consent.purposes.measure && !self.is_bot()
    }

    /// The decision for this view. Crawlers get the defaults unless a rule is written for them.
    pub fn decide<'r>(&self, rules: &'r RuleSet, only: Option<&[String]>) -> Decision<'r> {
        if self.is_bot() && !rules_target_bots(rules, &self.signals) {
            let mut defaults = self.consent;
            defaults.purposes.personalize = false;
            decide(rules, &self.signals, &defaults, &self.key, only)
        } else {
            decide(rules, &self.signals, &self.consent, &self.key, only)
        }
    }
}

impl Pipeline<'_> {
    /// Parses, screens and resolves one page view. Never touches the store.
    pub fn view(&self, input: ViewInput<'_>) -> Result<ViewContext, ViewError> {
        let ViewInput {
            page,
            visitor_id,
            meta,
            consent,
            client,
            now,
        } = input;
        let view = PageView::parse(page)?;
        let mut warnings = Vec::new();
        let visitor_id = first_party_id(self.pii_policy, visitor_id, &mut warnings)?;
        let extracted = self.extractor.extract(&view, meta, now)?;
        warnings.extend(extracted.warnings);
        let (signals, country_source) = (extracted.signals, extracted.country_source);

        // An explicit record (consent or opt-out) is looked up in memory: the hot path never waits on
        // the store.
        // The subject keys the consent record and, for a first-party visitor, the experiment units:
        // one HMAC for both.
        let subject = visitor_id.as_ref().map(|id| self.keyring.consent_subject(id));
        let record = match (&self.records, &visitor_id, &subject) {
            (Records::Book(book), Some(id), Some(s)) => book.lookup_subject(self.keyring, id, s),
            (Records::Assumed(r), _, _) => Some(r.clone()),
            _ => None,
        };
        let consent = self
            .consent
            .resolve_at(&consent.input(signals.country, record.as_ref()), now, &mut warnings);
        let site = signals.site.as_deref().unwrap_or_default();
        let (key, unit) = match visitor_id.filter(|_| consent.storage) {
            Some(id) => (self.keyring.first_party(site, &id), subject),
            None => (
                self.keyring
                    .cookieless(site, client, meta.user_agent.unwrap_or(""), now),
                None,
            ),
        };
        Ok(ViewContext {
            signals,
            consent,
            key,
            now,
            client,
            unit,
            country_source,
            warnings,
        })
    }
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

/// The `visitor_id` sent, parsed; one that is plainly someone's identity is dropped (or refused).
fn first_party_id(
    policy: PiiPolicy,
    raw: Option<&str>,
    warnings: &mut Vec<Warning>,
) -> Result<Option<VisitorId>, ViewError> {
    let Some(raw) = raw else { return Ok(None) };
    let id = VisitorId::parse(raw)?;
    match (pii::detect_in_identifier(id.as_str()), policy) {
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
