//! Loading, environment overrides and validation of the configuration.

use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> config::Environment {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    config::Environment::with_prefix("PERSONIFY").source(Some(map))
}

#[test]
fn defaults_match_the_contract() {
    let s = Settings::load_with_env(Path::new("config"), env(&[])).unwrap();
    assert_eq!(s.server.host, "127.0.0.1");
    assert_eq!(s.server.port, 8080);
    assert_eq!(s.store.url, "sqlite://data/personify.db");
    assert_eq!(s.rules.dir, PathBuf::from("segment_rules"));
    assert_eq!(s.counts.flush_seconds, 10);
    assert_eq!(s.geo.country_header, "CF-IPCountry");
    assert_eq!(s.privacy.k, 50);
    assert_eq!(s.privacy.pii_policy, PiiPolicy::Scrub);
    assert_eq!(s.server.max_body_bytes, 16 * 1024);
    for eu in ["DE", "FR", "GB", "CH", "NO"] {
        assert!(s.consent.opt_in_countries.iter().any(|c| c == eu), "{eu}");
    }
}

#[test]
fn a_misspelt_key_is_an_error_naming_it_not_a_silent_default() {
    let err = Settings::load_with_env(Path::new("config"), env(&[("PERSONIFY__PRIVACY__KK", "5")]))
        .expect_err("a typo in privacy.k must not fall back to the default");
    assert!(err.to_string().contains("kk"), "{err}");
    let err = Settings::load_with_env(Path::new("config"), env(&[("PERSONIFY__PRIVACYY__K", "5")]))
        .expect_err("an unknown section");
    assert!(err.to_string().contains("privacyy"), "{err}");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("local.toml"), "[server]\nprot = 9000\n").expect("local.toml");
    let err = Settings::load_with_env(dir.path(), env(&[])).expect_err("a typo in a file");
    assert!(err.to_string().contains("prot"), "{err}");
}

#[test]
fn environment_overrides_use_double_underscores() {
    let s = Settings::load_with_env(
        Path::new("config"),
        env(&[
            ("PERSONIFY__SERVER__PORT", "9000"),
            ("PERSONIFY__PRIVACY__PII_POLICY", "reject"),
            ("PERSONIFY__GEO__COUNTRY_HEADER", "X-Country"),
        ]),
    )
    .unwrap();
    assert_eq!(s.server.port, 9000);
    assert_eq!(s.privacy.pii_policy, PiiPolicy::Reject);
    assert_eq!(s.geo.country_header, "X-Country");
}

#[test]
fn every_list_key_is_read_from_the_environment_as_comma_separated_values() {
    let s = Settings::load_with_env(
        Path::new("config"),
        env(&[
            (
                "PERSONIFY__CORS__ALLOWED_ORIGINS",
                "https://a.example,https://B.example:443/",
            ),
            ("PERSONIFY__SERVER__TRUSTED_PROXIES", "10.0.0.0/8,::1/128"),
            ("PERSONIFY__CONSENT__SOURCES", "cmp,kiosk"),
            ("PERSONIFY__CONSENT__POLICY_VERSIONS", "2026-11,2027-01"),
            ("PERSONIFY__CONSENT__OPT_IN_COUNTRIES", "de,fr"),
            ("PERSONIFY__SIGNALS__INTERNAL_HOSTS", "bank.example,bank.test"),
            ("PERSONIFY__LIMITS__ENABLED", "false"),
            ("PERSONIFY__LIMITS__EVENTS__BURST", "7"),
        ]),
    )
    .unwrap();
    assert_eq!(s.cors.allowed_origins, ["https://a.example", "https://b.example"]);
    assert_eq!(s.server.trusted_proxies, ["10.0.0.0/8", "::1/128"]);
    assert_eq!(s.consent.sources, ["cmp", "kiosk"]);
    assert_eq!(s.consent.policy_versions, ["2026-11", "2027-01"]);
    assert_eq!(s.consent.opt_in_countries, ["DE", "FR"]);
    assert_eq!(s.signals.internal_hosts, ["bank.example", "bank.test"]);
    assert!(!s.limits.enabled);
    assert_eq!(s.limits.events.burst, 7);
    // Every list key in the shipped defaults is in LIST_KEYS, so none is left string-only.
    let defaults: toml::Table = EMBEDDED_DEFAULTS.parse().unwrap();
    for (section, table) in &defaults {
        for (key, value) in table.as_table().into_iter().flatten() {
            if value.is_array() && value.as_array().is_some_and(|a| a.iter().all(|v| !v.is_table())) {
                let dotted = format!("{section}.{key}");
                assert!(LIST_KEYS.contains(&dotted.as_str()), "{dotted} is not in LIST_KEYS");
            }
        }
    }
}

#[test]
fn the_shipped_privacy_edge_defaults() {
    let s = Settings::load_with_env(Path::new("config"), env(&[])).unwrap();
    assert_eq!(s.consent.sources, ["cmp", "banner", "preference_centre", "api"]);
    assert_eq!(s.consent.policy_versions, ["2026-11"]);
    assert_eq!(s.server.trusted_proxies, ["127.0.0.1/32", "::1/128"]);
    assert!(s.cors.allowed_origins.is_empty());
    assert!(s.limits.enabled);
    assert_eq!(s.server.body_timeout_seconds, 5);
    let bad = Settings::load_with_env(
        Path::new("config"),
        env(&[("PERSONIFY__CORS__ALLOWED_ORIGINS", "https://a.example/path")]),
    );
    assert!(bad.unwrap_err().to_string().contains("cors.allowed_origins"));
}

#[test]
fn a_bad_value_names_its_key() {
    let err =
        Settings::load_with_env(Path::new("config"), env(&[("PERSONIFY__PRIVACY__PII_POLICY", "shred")])).unwrap_err();
    assert!(err.to_string().contains("pii_policy"), "{err}");
}
