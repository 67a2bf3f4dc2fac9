//! Test support: the shipped defaults (`config/default.toml`) read as the domain's own option
//! types, so domain tests run on the values a server starts with without importing configuration.

use serde::de::DeserializeOwned;

use super::consent::ConsentPolicy;
use super::signals::pii::PiiPolicy;
use super::signals::SignalExtractor;

const DEFAULTS: &str = include_str!("../../config/default.toml");

/// One section (or `section.key`) of the shipped defaults as `T`.
pub(crate) fn defaults<T: DeserializeOwned>(path: &str) -> T {
    let mut value: toml::Value = toml::from_str(DEFAULTS).expect("config/default.toml parses");
    for key in path.split('.') {
        value = value
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("default.toml has no {path}"));
    }
    value.try_into().unwrap_or_else(|e| panic!("default.toml {path}: {e}"))
}

/// The default consent policy.
pub(crate) fn consent_policy() -> ConsentPolicy {
    let countries: Vec<String> = defaults("consent.opt_in_countries");
    ConsentPolicy::new(&countries, None)
}

/// The default extractor (scrub, the shipped referrer lists).
pub(crate) fn signal_extractor() -> SignalExtractor {
    let policy: PiiPolicy = defaults("privacy.pii_policy");
    SignalExtractor::new(policy, &defaults("signals"))
}
