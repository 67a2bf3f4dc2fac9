//! Consent: which purposes apply to a request, and why.
//!
//! Resolution (`docs/decisions/004-privacy-consent-ordering.md`):
//! 1. An opt-out record wins over every string; only a newer personify record replaces it.
//! 2. A consent record and a TC string (the `tcf` field, else GPP's TCF section) are compared by UTC
//!    day, because a TC string is unsigned and its LastUpdated is day-precision: the newer day wins,
//!    on the same day each purpose applies only if both grant it, and a string dated after today
//!    is ignored.
//! 3. Without either, the jurisdiction default (opt-in: nothing; opt-out: everything).
//! 4. Then every opt-out signal takes away: an opt-out of sale, sharing or targeted advertising in
//!    `us_privacy` or any GPP US section, and `Sec-GPC: 1`, each deny `advertise`, whatever decided;
//!    a Google Consent Mode "denied" withholds its purpose ([`google`]), and its "granted" grants
//!    nothing.
//! 5. Last, the purposes the client says the visitor just withdrew are taken away: a choice made on
//!    another node that this node's book may not hold yet (`docs/decisions/015-read-your-writes.md`).
//!
//! A malformed string is a warning and counts as absent, never an error.

pub mod book;
pub mod google;
pub mod tcf;
pub mod us;

use std::cmp::Ordering;
use std::collections::HashSet;
use std::time::SystemTime;

use serde::Serialize;

pub use book::{ConsentBook, Record};

use crate::domain::privacy::utc_day;
use crate::domain::signals::{Country, Warning};

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
    /// Google Consent Mode withheld a purpose in an opt-out jurisdiction.
    GoogleConsentMode,
    /// The client asserted a withdrawal (or opt-out) this node had not applied yet, and it took a
    /// purpose away.
    Withdrawn,
    /// An opt-in jurisdiction (or unknown country) without a consent signal: nothing applies.
    JurisdictionOptIn,
    /// An opt-out jurisdiction without an opt-out signal: everything applies.
    JurisdictionOptOut,
    /// A preview token (UAT): content is personalised as the token forces; nothing is measured or
    /// advertised.
    Preview,
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
    /// The consent of a previewed page view: personalised explicitly (sensitive segments show),
    /// never measured, never advertised, the visitor id unused.
    pub fn preview() -> Consent {
        Consent {
            storage: false,
            ..Consent::plain(
                Purposes {
                    personalize: true,
                    measure: false,
                    advertise: false,
                },
                Basis::Preview,
                true,
            )
        }
    }

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

    /// Each purpose and permission only where both choices grant it (same-day conflicts).
    fn restricted_by(self, other: &Consent) -> Consent {
        Consent {
            purposes: Purposes {
                personalize: self.purposes.personalize && other.purposes.personalize,
                measure: self.purposes.measure && other.purposes.measure,
                advertise: self.purposes.advertise && other.purposes.advertise,
            },
            profile_personalize: self.profile_personalize && other.profile_personalize,
            profile_advertise: self.profile_advertise && other.profile_advertise,
            storage: self.storage && other.storage,
            ..self
        }
    }

    /// Takes `advertise` away (an opt-out of sale, sharing or targeted advertising).
    fn deny_advertise(&mut self) {
        self.purposes.advertise = false;
        self.profile_advertise = false;
    }

    /// Takes away every purpose `withheld` names; whether anything that applied was taken.
    fn withhold(&mut self, withheld: Purposes) -> bool {
        let before = self.purposes;
        if withheld.personalize {
            self.purposes.personalize = false;
            self.profile_personalize = false;
        }
        if withheld.measure {
            self.purposes.measure = false;
        }
        if withheld.advertise {
            self.deny_advertise();
        }
        self.purposes != before
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
    /// Google Consent Mode state, as the page last set it.
    pub google_consent_mode: Option<google::ConsentMode>,
    /// Purposes the client says the visitor has just withdrawn (only ever withholds).
    pub withdrawn: Purposes,
}

/// `Sec-GPC` counts when a value is exactly `1` (W3C GPC). Every value of a repeated header is
/// passed: one `1` among them is honoured, as the stricter reading of a conflicting request.
pub fn gpc_header<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    values.into_iter().any(|v| v.trim() == "1")
}

/// UTC day of a TC string's LastUpdated (deciseconds since the epoch).
fn tc_day(tc: &tcf::TcString) -> i64 {
    i64::try_from(tc.last_updated / 10 / 86_400).unwrap_or(i64::MAX)
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
    /// Builds the policy: the alpha-2 codes of opt-in jurisdictions, and personify's IAB GVL vendor
    /// id (when set, TCF grants need this vendor's consent bit).
    pub fn new(opt_in_countries: &[String], tcf_vendor_id: Option<u16>) -> Self {
        ConsentPolicy {
            opt_in: opt_in_countries.iter().cloned().collect(),
            tcf_vendor_id,
        }
    }

    /// Whether a country gets the opt-in default; unknown countries do.
    pub fn is_opt_in(&self, country: Option<&Country>) -> bool {
        country.is_none_or(|c| self.opt_in.contains(c.as_str()))
    }

    /// The purposes for a request, plus warnings about strings that could not be read.
    pub fn resolve(&self, input: &ConsentInput<'_>, warnings: &mut Vec<Warning>) -> Consent {
        self.resolve_at(input, SystemTime::now(), warnings)
    }

    /// [`ConsentPolicy::resolve`] as of `now` (which decides whether a TC string is dated in the future).
    pub fn resolve_at(&self, input: &ConsentInput<'_>, now: SystemTime, warnings: &mut Vec<Warning>) -> Consent {
        let today = utc_day(now);
        let strings = self.read_strings(input, today, warnings);
        let mut consent = match (input.record, strings.tc) {
            (Some(r), _) if r.opted_out => Consent::plain(r.purposes, Basis::OptOut, true),
            (Some(r), Some((tc, basis))) => {
                let record = Consent::plain(r.purposes, Basis::Record, true);
                let string = Consent::from_tcf(tcf::TcfGrant::from_tc(&tc, self.tcf_vendor_id), basis);
                match tc_day(&tc).cmp(&r.recorded_at.div_euclid(86_400_000)) {
                    Ordering::Greater => string,
                    Ordering::Less => record,
                    Ordering::Equal => record.restricted_by(&string),
                }
            }
            (Some(r), None) => Consent::plain(r.purposes, Basis::Record, true),
            (None, Some((tc, basis))) => Consent::from_tcf(tcf::TcfGrant::from_tc(&tc, self.tcf_vendor_id), basis),
            (None, None) if self.is_opt_in(input.country.as_ref()) => {
                // US opt-out strings only ever take away; they cannot grant in an opt-in jurisdiction.
                Consent::plain(Purposes::NONE, Basis::JurisdictionOptIn, false)
            }
            (None, None) => {
                let basis = if strings.gpp_us {
                    Basis::Gpp
                } else if strings.us_privacy {
                    Basis::UsPrivacy
                } else {
                    Basis::JurisdictionOptOut
                };
                Consent::plain(Purposes::ALL, basis, false)
            }
        };
        // Any opt-out in any signal wins over whatever granted `advertise`.
        if strings.us_opt_out {
            consent.deny_advertise();
        }
        let withheld = input.google_consent_mode.map(|m| m.withholds());
        if withheld.is_some_and(|w| consent.withhold(w)) && consent.basis == Basis::JurisdictionOptOut {
            consent.basis = Basis::GoogleConsentMode;
        }
        if input.gpc && consent.purposes.advertise {
            consent.deny_advertise();
            if consent.basis == Basis::JurisdictionOptOut {
                consent.basis = Basis::Gpc;
            }
        }
        if consent.withhold(input.withdrawn) {
            consent.basis = Basis::Withdrawn;
        }
        consent
    }

    /// Decodes the request's strings once; a malformed or future-dated one is a warning and absent.
    fn read_strings(&self, input: &ConsentInput<'_>, today: i64, warnings: &mut Vec<Warning>) -> Strings {
        let mut tc = input.tcf.and_then(|s| match tcf::decode(s) {
            Ok(tc) => Some((tc, Basis::Tcf, "consent.tcf")),
            Err(e) => {
                warnings.push(invalid("consent.tcf", e));
                None
            }
        });
        let gpp = input.gpp.and_then(|s| match us::decode_gpp(s, input.gpp_sid) {
            Ok(g) => Some(g),
            Err(e) => {
                warnings.push(invalid("consent.gpp", e));
                None
            }
        });
        let usp = input.us_privacy.and_then(|s| match us::UsPrivacy::parse(s) {
            Ok(u) => Some(u),
            Err(e) => {
                warnings.push(invalid("consent.us_privacy", e));
                None
            }
        });
        if tc.is_none() {
            tc = gpp
                .as_ref()
                .and_then(|g| g.tcf.clone())
                .map(|t| (t, Basis::Gpp, "consent.gpp"));
        }
        // Unsigned and day-precision: a string from the future cannot be a real choice.
        let tc = tc.and_then(|(t, basis, field)| {
            if tc_day(&t) > today {
                warnings.push(Warning {
                    code: "consent_string_future",
                    field: field.to_string(),
                    message: format!("{field} is dated after today (UTC); it was ignored"),
                });
                None
            } else {
                Some((t, basis))
            }
        });
        Strings {
            tc,
            gpp_us: gpp.as_ref().is_some_and(|g| g.has_us_section),
            us_privacy: usp.is_some(),
            us_opt_out: gpp.as_ref().is_some_and(|g| g.us_opt_out) || usp.is_some_and(|u| u.opt_out_sale == Some(true)),
        }
    }
}

/// What a request's consent strings say, decoded.
struct Strings {
    /// A usable TC string and where it came from.
    tc: Option<(tcf::TcString, Basis)>,
    /// A GPP string with a US section.
    gpp_us: bool,
    /// A readable `us_privacy` string.
    us_privacy: bool,
    /// Some US signal opts out of sale, sharing or targeted advertising.
    us_opt_out: bool,
}

#[cfg(test)]
mod tests;
