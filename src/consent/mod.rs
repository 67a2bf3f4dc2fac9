//! Consent: which purposes apply to a page view, and why.
//!
//! Resolution order (DESIGN §2.5): an explicit record > request signals (TCF, GPP/US privacy,
//! `Sec-GPC`) > the jurisdiction default. This version resolves `Sec-GPC` and the jurisdiction
//! default; records and consent strings plug into [`ConsentPolicy::resolve`] as further sources.

use std::collections::HashSet;

use serde::Serialize;

use crate::config::ConsentSettings;
use crate::signals::Country;

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

/// Which source decided the purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// An opt-in jurisdiction (or unknown country) with no consent signal: nothing applies.
    JurisdictionOptIn,
    /// An opt-out jurisdiction with no opt-out signal: everything applies.
    JurisdictionOptOut,
    /// `Sec-GPC: 1` denied `advertise` in an opt-out jurisdiction.
    Gpc,
}

/// The outcome of consent resolution for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Consent {
    /// Purposes that apply.
    #[serde(flatten)]
    pub purposes: Purposes,
    /// Why.
    pub basis: Basis,
    /// Whether `personalize` comes from an explicit choice (a record or TCF), which sensitive segments need.
    #[serde(skip)]
    pub explicit: bool,
}

/// Signals on the request that bear on consent.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsentSignals {
    /// The visitor's country, if the trusted header gave one.
    pub country: Option<Country>,
    /// `Sec-GPC: 1` was sent.
    pub gpc: bool,
}

/// `Sec-GPC` counts only when it is exactly `1` (W3C GPC).
pub fn gpc_header(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim() == "1")
}

/// Resolves consent from configuration and request signals.
#[derive(Debug, Clone)]
pub struct ConsentPolicy {
    opt_in: HashSet<String>,
}

impl ConsentPolicy {
    /// Builds the policy from `[consent]`.
    pub fn new(settings: &ConsentSettings) -> Self {
        ConsentPolicy {
            opt_in: settings.opt_in_countries.iter().cloned().collect(),
        }
    }

    /// Whether a country gets the opt-in default; unknown countries do.
    pub fn is_opt_in(&self, country: Option<&Country>) -> bool {
        country.is_none_or(|c| self.opt_in.contains(c.as_str()))
    }

    /// The purposes for a request.
    pub fn resolve(&self, signals: &ConsentSignals) -> Consent {
        if self.is_opt_in(signals.country.as_ref()) {
            return Consent {
                purposes: Purposes::NONE,
                basis: Basis::JurisdictionOptIn,
                explicit: false,
            };
        }
        if signals.gpc {
            // GPC is an opt-out of sale/sharing/targeted advertising; first-party content may continue.
            return Consent {
                purposes: Purposes {
                    advertise: false,
                    ..Purposes::ALL
                },
                basis: Basis::Gpc,
                explicit: false,
            };
        }
        Consent {
            purposes: Purposes::ALL,
            basis: Basis::JurisdictionOptOut,
            explicit: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ConsentPolicy {
        ConsentPolicy::new(&crate::config::Settings::defaults().unwrap().consent)
    }

    #[test]
    fn jurisdiction_defaults_and_gpc() {
        let p = policy();
        let us = Country::parse("US");
        let de = Country::parse("DE");
        let c = p.resolve(&ConsentSignals {
            country: us,
            gpc: false,
        });
        assert_eq!((c.purposes, c.basis), (Purposes::ALL, Basis::JurisdictionOptOut));
        let c = p.resolve(&ConsentSignals { country: us, gpc: true });
        assert_eq!(c.basis, Basis::Gpc);
        assert!(c.purposes.personalize && c.purposes.measure && !c.purposes.advertise);
        let c = p.resolve(&ConsentSignals {
            country: de,
            gpc: false,
        });
        assert_eq!((c.purposes, c.basis), (Purposes::NONE, Basis::JurisdictionOptIn));
        let c = p.resolve(&ConsentSignals {
            country: None,
            gpc: false,
        });
        assert_eq!((c.purposes, c.basis), (Purposes::NONE, Basis::JurisdictionOptIn));
        assert!(gpc_header(Some("1")) && !gpc_header(Some("true")) && !gpc_header(None));
    }
}
