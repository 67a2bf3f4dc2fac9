//! What an OFREP evaluation answers: each slot a flag whose value is the chosen variant's content
//! (an object, for OpenFeature's `getObjectValue`), with the variant and an OFREP reason; the
//! consent that applied as metadata; never a segment id. The bulk answer's ETag hashes the whole
//! answer, so it changes whenever any of it does, consent included.

use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::domain::consent::{Basis, Consent};
use crate::domain::pageview::decide::{Reason, SlotDecision};
use crate::domain::signals::Warning;

/// The OFREP reason of a slot decision (the protocol's set: STATIC, TARGETING_MATCH, SPLIT,
/// DISABLED, UNKNOWN).
pub fn reason(d: &SlotDecision<'_>) -> &'static str {
    match d.reason {
        Reason::Segment(_) | Reason::Preview => "TARGETING_MATCH",
        Reason::Experiment { .. } => "SPLIT",
        // Nothing targets this slot for this page view: its one default.
        Reason::NoRule => "STATIC",
        // Personalisation is off for this page view (no consent, or a sensitive page).
        Reason::NoConsent | Reason::SensitivePage => "DISABLED",
    }
}

/// One flag.
#[derive(Serialize)]
pub struct Flag<'a> {
    key: &'a str,
    value: &'a RawValue,
    reason: &'static str,
    variant: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<FlagMetadata<'a>>,
}

/// A flag's own metadata: the experiment and arm it was decided by, as `/v1/decide` reports them,
/// and, on the single-flag route, the consent that applied.
#[derive(Serialize)]
struct FlagMetadata<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    experiment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arm: Option<&'a str>,
    #[serde(flatten)]
    set: Option<&'a SetMetadata<'a>>,
}

impl<'a> Flag<'a> {
    /// The flag of one slot decision; `set` adds the consent (the single-flag answer's only metadata).
    pub fn new(d: &SlotDecision<'a>, set: Option<&'a SetMetadata<'a>>) -> Flag<'a> {
        let experiment = match d.reason {
            Reason::Experiment { experiment, arm, .. } => Some((
                experiment.id.as_str(),
                if arm.is_some() {
                    d.variant.id.as_str()
                } else {
                    "holdout"
                },
            )),
            _ => None,
        };
        let metadata = (experiment.is_some() || set.is_some()).then(|| FlagMetadata {
            experiment: experiment.map(|e| e.0),
            arm: experiment.map(|e| e.1),
            set,
        });
        Flag {
            key: &d.slot.id,
            value: &d.variant.content,
            reason: reason(d),
            variant: &d.variant.id,
            metadata,
        }
    }
}

/// What applied to the whole evaluation: consent, the rules, a preview, warnings (codes only).
#[derive(Serialize)]
pub struct SetMetadata<'a> {
    personalize: bool,
    measure: bool,
    advertise: bool,
    consent_basis: Basis,
    rules_version: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    preview: bool,
    /// The codes of the warnings `/v1/decide` would list, comma-separated (metadata values are
    /// flat); their fields and messages are in decide's answer.
    #[serde(skip_serializing_if = "String::is_empty")]
    warnings: String,
}

impl<'a> SetMetadata<'a> {
    /// The metadata of one evaluation.
    pub fn new(consent: &Consent, rules_version: &'a str, preview: bool, warnings: &[Warning]) -> SetMetadata<'a> {
        let mut codes: Vec<&str> = warnings.iter().map(|w| w.code).collect();
        codes.sort_unstable();
        codes.dedup();
        SetMetadata {
            personalize: consent.purposes.personalize,
            measure: consent.purposes.measure,
            advertise: consent.purposes.advertise,
            consent_basis: consent.basis,
            rules_version,
            preview,
            warnings: codes.join(","),
        }
    }
}

/// The bulk answer.
#[derive(Serialize)]
pub struct Bulk<'a> {
    /// Every slot of the active rules.
    pub flags: Vec<Flag<'a>>,
    /// What applied.
    pub metadata: &'a SetMetadata<'a>,
}

/// A strong ETag of an answer's bytes: the first 128 bits of their SHA-256, in hex.
pub fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Whether an `If-None-Match` header (every value sent) matches `etag`: `*`, or one of its listed
/// tags, compared weakly (`W/` ignored) as RFC 9110 has it for this header.
pub fn none_match<'h>(values: impl IntoIterator<Item = &'h str>, etag: &str) -> bool {
    values
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_star_and_weak_tags() {
        let tag = etag(b"{}");
        assert_eq!(tag.len(), 34);
        assert!(tag.starts_with('"') && tag.ends_with('"'));
        assert!(none_match([tag.as_str()], &tag));
        assert!(none_match(
            ["\"other\", W/".to_string() + &tag].iter().map(String::as_str),
            &tag
        ));
        assert!(none_match(["*"], &tag));
        assert!(!none_match(["\"other\""], &tag));
        assert!(!none_match([], &tag));
        assert!(!none_match([&tag[1..33]], &tag), "an unquoted tag is not the tag");
        assert_ne!(etag(b"{}"), etag(b"{ }"));
    }
}
