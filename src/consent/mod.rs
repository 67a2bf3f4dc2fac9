//! Consent: which purposes apply to a request, and why.
//!
//! Resolution order (DESIGN §2.5): an explicit record (consent or opt-out) > a TCF string > a GPP
//! string (its TCF section, else its US sections) > a `us_privacy` string > `Sec-GPC` > the
//! jurisdiction default. `Sec-GPC: 1` denies `advertise` whatever decided. A malformed string is a
//! warning and counts as absent, never an error.

pub mod book;
pub mod log;
pub mod tcf;
pub mod us;

use std::collections::HashSet;

use serde::Serialize;

pub use book::{ConsentBook, Record};

use crate::config::ConsentSettings;
use crate::signals::{Country, Warning};

/// The purposes personify processes data for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Purposes {
    /// Segment-based content.
    pub personalize: bool,
    /// Aggregate counting.
    pub measure: bool,
    /// RTB targeting buckets.
    pub advertise: bool,
}

impl Purposes {
    /// Every purpose granted.
    pub const ALL: Purposes = Purposes {
        personalize: true,
        measure: true,
        advertise: true,
    };
    /// Nothing granted.
    pub const NONE: Purposes = Purposes {
        personalize: false,
        measure: false,
        advertise: false,
    };
}

/// The purpose names accepted by the consent API.
pub const PURPOSE_NAMES: [&str; 3] = ["personalize", "measure", "advertise"];

/// Which source decided the purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// An explicit consent record in the store.
    Record,
    /// An explicit opt-out in the store.
    OptOut,
    /// The request's TCF string.
    Tcf,
    /// The request's GPP string (its TCF section or US sections).
    Gpp,
    /// The request's `us_privacy` string.
    UsPrivacy,
    /// `Sec-GPC: 1` denied `advertise` in an opt-out jurisdiction.
    Gpc,
    /// An opt-in jurisdiction (or unknown country) without a consent signal: nothing applies.
    JurisdictionOptIn,
    /// An opt-out jurisdiction without an opt-out signal: everything applies.
    JurisdictionOptOut,
}

/// The outcome of consent resolution for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Consent {
    /// Purposes that apply.
    #[serde(flatten)]
    pub purposes: Purposes,
    /// Why.
    pub basis: Basis,
    /// `personalize` comes from an explicit choice (a record or TCF): sensitive segments need it.
    #[serde(skip)]
    pub explicit: bool,
    /// Content may use the session summary (TCF 5 and 6, or any non-TCF grant of `personalize`).
    #[serde(skip)]
    pub profile_personalize: bool,
    /// Ad buckets may use the session summary (TCF 3 and 4, or any non-TCF grant of `advertise`).
    #[serde(skip)]
    pub profile_advertise: bool,
    /// The first-party `visitor_id` may be used (TCF purpose 1, or no TCF signal).
    #[serde(skip)]
    pub storage: bool,
}

impl Consent {
    fn plain(purposes: Purposes, basis: Basis, explicit: bool) -> Consent {
        Consent {
            purposes,
            basis,
            explicit,
            profile_personalize: purposes.personalize,
            profile_advertise: purposes.advertise,
            storage: true,
        }
    }

    fn from_tcf(grant: tcf::TcfGrant, basis: Basis) -> Consent {
        Consent {
            purposes: Purposes {
                personalize: grant.personalize_contextual,
                measure: grant.measure,
                advertise: grant.advertise_contextual,
            },
            basis,
            explicit: true,
            profile_personalize: grant.personalize_profile,
            profile_advertise: grant.advertise_profile,
            storage: grant.storage,
        }
    }
}

/// Everything on a request that bears on consent.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsentInput<'a> {
    /// The visitor's country, if the trusted header gave one.
    pub country: Option<Country>,
    /// `Sec-GPC: 1` was sent.
    pub gpc: bool,
    /// The explicit record of the visitor, if any.
    pub record: Option<&'a Record>,
    /// TC string.
    pub tcf: Option<&'a str>,
    /// GPP string.
    pub gpp: Option<&'a str>,
    /// Applicable GPP section ids.
    pub gpp_sid: Option<&'a [u16]>,
    /// US privacy string.
    pub us_privacy: Option<&'a str>,
}

/// `Sec-GPC` counts only when it is exactly `1` (W3C GPC).
pub fn gpc_header(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim() == "1")
}

/// Resolves consent from configuration and request signals.
#[derive(Debug, Clone)]
pub struct ConsentPolicy {
    opt_in: HashSet<String>,
    tcf_vendor_id: Option<u16>,
}

fn invalid(field: &str, e: impl std::fmt::Display) -> Warning {
    Warning {
        code: "consent_string_invalid",
        field: field.to_string(),
        message: format!("{field} {e}; it was ignored"),
    }
}

impl ConsentPolicy {
    /// Builds the policy from `[consent]`.
    pub fn new(settings: &ConsentSettings) -> Self {
        ConsentPolicy {
            opt_in: settings.opt_in_countries.iter().cloned().collect(),
            tcf_vendor_id: settings.tcf_vendor_id,
        }
    }

    /// Whether a country gets the opt-in default; unknown countries do.
    pub fn is_opt_in(&self, country: Option<&Country>) -> bool {
        country.is_none_or(|c| self.opt_in.contains(c.as_str()))
    }

    /// The purposes for a request, plus warnings about strings that could not be read.
    pub fn resolve(&self, input: &ConsentInput<'_>, warnings: &mut Vec<Warning>) -> Consent {
        let mut consent = self.decide(input, warnings);
        if input.gpc && consent.purposes.advertise {
            consent.purposes.advertise = false;
            consent.profile_advertise = false;
            if consent.basis == Basis::JurisdictionOptOut {
                consent.basis = Basis::Gpc;
            }
        }
        consent
    }

    fn decide(&self, input: &ConsentInput<'_>, warnings: &mut Vec<Warning>) -> Consent {
        if let Some(r) = input.record {
            return Consent::plain(
                r.purposes,
                if r.opted_out { Basis::OptOut } else { Basis::Record },
                true,
            );
        }
        if let Some(s) = input.tcf {
            match tcf::decode(s) {
                Ok(tc) => return Consent::from_tcf(tcf::TcfGrant::from_tc(&tc, self.tcf_vendor_id), Basis::Tcf),
                Err(e) => warnings.push(invalid("consent.tcf", e)),
            }
        }
        let gpp = input.gpp.and_then(|s| match us::decode_gpp(s, input.gpp_sid) {
            Ok(g) => Some(g),
            Err(e) => {
                warnings.push(invalid("consent.gpp", e));
                None
            }
        });
        if let Some(tc) = gpp.as_ref().and_then(|g| g.tcf.as_ref()) {
            return Consent::from_tcf(tcf::TcfGrant::from_tc(tc, self.tcf_vendor_id), Basis::Gpp);
        }
        let usp = input.us_privacy.and_then(|s| match us::UsPrivacy::parse(s) {
            Ok(u) => Some(u),
            Err(e) => {
                warnings.push(invalid("consent.us_privacy", e));
                None
            }
        });
        if self.is_opt_in(input.country.as_ref()) {
            // US opt-out strings only ever take away; they cannot grant in an opt-in jurisdiction.
            return Consent::plain(Purposes::NONE, Basis::JurisdictionOptIn, false);
        }
        let mut consent = Consent::plain(Purposes::ALL, Basis::JurisdictionOptOut, false);
        let gpp_us = gpp.as_ref().filter(|g| g.has_us_section);
        if let Some(g) = gpp_us {
            consent.basis = Basis::Gpp;
            if g.us_opt_out {
                consent.purposes.advertise = false;
            }
        } else if let Some(u) = usp {
            consent.basis = Basis::UsPrivacy;
            if u.opt_out_sale == Some(true) {
                consent.purposes.advertise = false;
            }
        }
        consent.profile_advertise = consent.purposes.advertise;
        consent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ConsentPolicy {
        ConsentPolicy::new(&crate::config::Settings::defaults().unwrap().consent)
    }

    fn resolve(input: ConsentInput<'_>) -> (Consent, Vec<Warning>) {
        let mut w = Vec::new();
        (policy().resolve(&input, &mut w), w)
    }

    #[test]
    fn jurisdiction_defaults_and_gpc() {
        let us = Country::parse("US");
        let de = Country::parse("DE");
        let (c, _) = resolve(ConsentInput {
            country: us,
            ..Default::default()
        });
        assert_eq!((c.purposes, c.basis), (Purposes::ALL, Basis::JurisdictionOptOut));
        let (c, _) = resolve(ConsentInput {
            country: us,
            gpc: true,
            ..Default::default()
        });
        assert_eq!(c.basis, Basis::Gpc);
        assert!(c.purposes.personalize && c.purposes.measure && !c.purposes.advertise);
        let (c, _) = resolve(ConsentInput {
            country: de,
            ..Default::default()
        });
        assert_eq!((c.purposes, c.basis), (Purposes::NONE, Basis::JurisdictionOptIn));
        let (c, _) = resolve(ConsentInput::default());
        assert_eq!((c.purposes, c.basis), (Purposes::NONE, Basis::JurisdictionOptIn));
        assert!(gpc_header(Some("1")) && !gpc_header(Some("true")) && !gpc_header(None));
    }

    #[test]
    fn us_privacy_and_malformed_strings() {
        let us = Country::parse("US");
        let (c, w) = resolve(ConsentInput {
            country: us,
            us_privacy: Some("1YYN"),
            ..Default::default()
        });
        assert_eq!(c.basis, Basis::UsPrivacy);
        assert!(!c.purposes.advertise && c.purposes.personalize && w.is_empty());
        let (c, w) = resolve(ConsentInput {
            country: us,
            tcf: Some("not-a-tc-string!"),
            ..Default::default()
        });
        assert_eq!(c.basis, Basis::JurisdictionOptOut);
        assert_eq!(w[0].code, "consent_string_invalid");
        assert_eq!(w[0].field, "consent.tcf");
        assert!(!w[0].message.contains("not-a-tc"));
    }

    #[test]
    fn a_record_beats_everything_and_gpc_still_denies_advertise() {
        let rec = Record {
            purposes: Purposes::ALL,
            opted_out: false,
            recorded_at: 0,
        };
        let (c, _) = resolve(ConsentInput {
            country: Country::parse("DE"),
            record: Some(&rec),
            gpc: true,
            ..Default::default()
        });
        assert_eq!(c.basis, Basis::Record);
        assert!(c.purposes.personalize && !c.purposes.advertise && c.explicit);
        let out = Record {
            purposes: Purposes::NONE,
            opted_out: true,
            recorded_at: 0,
        };
        let (c, _) = resolve(ConsentInput {
            country: Country::parse("US"),
            record: Some(&out),
            ..Default::default()
        });
        assert_eq!((c.purposes, c.basis), (Purposes::NONE, Basis::OptOut));
    }
}
