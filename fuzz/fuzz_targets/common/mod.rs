//! What every target shares: the shipped defaults and rules, built once per process.

#![allow(dead_code)]

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{LazyLock, Once};
use std::time::{Duration, SystemTime};

use personify::domain::consent::ConsentPolicy;
use personify::domain::privacy::{Keyring, Secret};
use personify::domain::rules::load::load_sources;
use personify::domain::rules::RuleSet;
use personify::domain::signals::pii::PiiPolicy;
use personify::domain::signals::SignalExtractor;

/// A fixed instant (November 2026), so a crash reproduces whatever the day.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000)
}

/// The shipped defaults (`config/default.toml`); the fuzz targets link only the domain, so they read
/// the sections they need as the domain's own option types.
static DEFAULTS: LazyLock<toml::Table> =
    LazyLock::new(|| toml::from_str(include_str!("../../../config/default.toml")).expect("the shipped defaults parse"));

fn default<T: serde::de::DeserializeOwned>(section: &str, key: Option<&str>) -> T {
    let value = DEFAULTS.get(section).expect("section in the defaults");
    let value = key.map_or(value, |k| value.get(k).expect("key in the defaults"));
    value.clone().try_into().expect("the defaults have the domain's types")
}

/// Signal extraction under the default PII policy and referrer lists.
pub static EXTRACTOR: LazyLock<SignalExtractor> = LazyLock::new(|| {
    let policy: PiiPolicy = default("privacy", Some("pii_policy"));
    SignalExtractor::new(policy, &default("signals", None))
});

/// Consent resolution under the default opt-in countries.
pub static POLICY: LazyLock<ConsentPolicy> = LazyLock::new(|| {
    let countries: Vec<String> = default("consent", Some("opt_in_countries"));
    ConsentPolicy::new(&countries, None)
});

/// A keyring around a fixed secret.
pub static KEYRING: LazyLock<Keyring> = LazyLock::new(|| Keyring::new(Secret::from_bytes([7; 32]), now()));

/// The repository's `segment_rules/`, compiled in so a target needs no working directory.
pub static RULES: LazyLock<RuleSet> = LazyLock::new(|| {
    let sources = [
        ("segments.toml", include_str!("../../../segment_rules/segments.toml")),
        ("content.toml", include_str!("../../../segment_rules/content.toml")),
    ]
    .map(|(name, text)| (name.to_string(), text.to_string()));
    load_sources(&sources).expect("the shipped rules load")
});

thread_local! {
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}
static HOOK: Once = Once::new();

/// Runs one input as the server would: a panic that personify catches itself (it wraps the GPP
/// crate and the HLL probe in `catch_unwind`, so a bad string stays a bad string) is handled; one
/// that escapes is a crash. libFuzzer's own hook aborts on every panic, caught or not.
pub fn run(body: impl FnOnce()) {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()))
        }));
    });
    if catch_unwind(AssertUnwindSafe(body)).is_err() {
        let message = PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default();
        eprintln!("panic escaped personify: {message}");
        std::process::abort();
    }
}
