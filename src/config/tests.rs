//! Loading, environment overrides and validation of the configuration.

use super::*;
use std::collections::HashMap;

fn strings<T: std::fmt::Display>(values: &[T]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

fn env(pairs: &[(&str, &str)]) -> config::Environment {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    config::Environment::with_prefix("PERSONIFY").source(Some(map))
}

#[test]
fn defaults_match_the_contract() {
    let s = Settings::load_with_env(Path::new("config"), env(&[])).unwrap();
    assert_eq!(s.server.host, "127.0.0.1");
    assert_eq!(s.server.port, 8080);
    assert_eq!(s.store.url.as_str(), "sqlite://data/personify.db");
    assert_eq!(s.store.url.kind(), StoreKind::Sqlite);
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
    assert_eq!(
        strings(&s.cors.allowed_origins),
        ["https://a.example", "https://b.example"]
    );
    assert_eq!(strings(&s.server.trusted_proxies), ["10.0.0.0/8", "::1/128"]);
    assert_eq!(s.consent.sources, ["cmp", "kiosk"]);
    assert_eq!(s.consent.policy_versions, ["2026-11", "2027-01"]);
    assert_eq!(s.consent.opt_in_countries, ["DE", "FR"]);
    assert_eq!(s.signals.internal_hosts, ["bank.example", "bank.test"]);
    assert!(!s.limits.enabled);
    assert_eq!(s.limits.events.burst.get(), 7);
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
    assert_eq!(strings(&s.server.trusted_proxies), ["127.0.0.1/32", "::1/128"]);
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

// Every value `serve` would refuse is refused at load, naming its key (what `personify check` runs).

/// The error of loading the shipped configuration with these environment overrides.
fn env_err(pairs: &[(&str, &str)]) -> String {
    match Settings::load_with_env(Path::new("config"), env(pairs)) {
        Ok(_) => panic!("{pairs:?} must be refused"),
        Err(e) => e.to_string(),
    }
}

/// Loads the shipped configuration with `local` as `local.toml`.
fn with_local(local: &str) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("local.toml"), local).expect("local.toml");
    Settings::load_with_env(dir.path(), env(&[]))
}

fn local_err(local: &str) -> String {
    match with_local(local) {
        Ok(_) => panic!("{local} must be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn trusted_proxies_are_cidrs_at_load() {
    for bad in ["10.0.0.0/33", "nope", "10.0.0.0/8,300.1.1.1"] {
        let err = env_err(&[("PERSONIFY__SERVER__TRUSTED_PROXIES", bad)]);
        assert!(
            err.contains("server.trusted_proxies") && err.contains("not a CIDR"),
            "{err}"
        );
    }
    let s = Settings::load_with_env(Path::new("config"), env(&[("PERSONIFY__SERVER__TRUSTED_PROXIES", "")])).unwrap();
    assert!(s.server.trusted_proxies.is_empty(), "an empty value is an empty list");
    let s = with_local("[server]\ntrusted_proxies = [\" 10.1.0.0/16 \", \"::1\"]\n").unwrap();
    assert!(s.server.trusted_proxies[0].contains("10.1.2.3".parse().unwrap()));
    assert_eq!(s.server.trusted_proxies[1], "::1/128".parse::<Cidr>().unwrap());
}

#[test]
fn header_names_are_parsed_at_load() {
    let err = env_err(&[("PERSONIFY__SERVER__CLIENT_IP_HEADER", "X Forwarded For")]);
    assert!(
        err.contains("server.client_ip_header") && err.contains("not a valid header name"),
        "{err}"
    );
    let err = env_err(&[("PERSONIFY__GEO__COUNTRY_HEADER", "CF:IPCountry")]);
    assert!(err.contains("geo.country_header"), "{err}");
    let err = local_err("[geo]\ncountry_header = \" \"\n");
    assert!(
        err.contains("geo.country_header") && err.contains("must name a header"),
        "{err}"
    );
    let s = Settings::load_with_env(
        Path::new("config"),
        env(&[("PERSONIFY__SERVER__CLIENT_IP_HEADER", " X-Forwarded-For ")]),
    )
    .unwrap();
    assert_eq!(
        s.server.client_ip_header.as_ref().map(|h| h.as_str()),
        Some("x-forwarded-for")
    );
    let s = Settings::load_with_env(Path::new("config"), env(&[])).unwrap();
    assert_eq!(s.server.client_ip_header, None, "empty means the TCP peer");
    assert_eq!(s.geo.country_header.as_str(), "cf-ipcountry");
}

#[test]
fn no_address_is_looked_up_by_default_and_the_sources_come_from_the_environment() {
    let s = Settings::load_with_env(Path::new("config"), env(&[])).unwrap();
    assert_eq!(s.geo.mmdb_path, None);
    assert!(!s.geo.builtin);
    let s = Settings::load_with_env(
        Path::new("config"),
        env(&[
            ("PERSONIFY__GEO__MMDB_PATH", " /var/lib/geo/country.mmdb "),
            ("PERSONIFY__GEO__BUILTIN", "true"),
        ]),
    )
    .unwrap();
    assert_eq!(s.geo.mmdb_path, Some(PathBuf::from("/var/lib/geo/country.mmdb")));
    assert!(s.geo.builtin);
}

const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[test]
fn token_hashes_are_32_bytes_at_load() {
    for bad in ["abc", &HASH[1..], &format!("{HASH}00"), &HASH.replace('9', "g")] {
        let err = local_err(&format!(
            "[[auth.tokens]]\nname = \"ops\"\nsha256 = \"{bad}\"\nscopes = [\"ops\"]\n"
        ));
        assert!(err.contains("auth.tokens[0].sha256") && err.contains("64 hex"), "{err}");
        assert!(!err.contains(bad), "the configured hash is not echoed: {err}");
    }
    let s = with_local(&format!(
        "[[auth.tokens]]\nname = \"ops\"\nsha256 = \"{}\"\nscopes = [\"ops\"]\n",
        HASH.to_uppercase()
    ))
    .unwrap();
    assert_eq!(s.auth.tokens[0].sha256, TokenHash::of("test"));
}

#[test]
fn scopes_are_a_closed_set_at_load() {
    for bad in ["Admin", "root", ""] {
        let err = local_err(&format!(
            "[[auth.tokens]]\nname = \"x\"\nsha256 = \"{HASH}\"\nscopes = [\"analyst\", \"{bad}\"]\n"
        ));
        assert!(
            err.contains("auth.tokens[0].scopes[1]") && err.contains("unknown scope"),
            "{err}"
        );
    }
    let s = with_local(&format!(
        "[[auth.tokens]]\nname = \"x\"\nsha256 = \"{HASH}\"\nscopes = [\"compliance\", \"rtb\"]\n"
    ))
    .unwrap();
    assert_eq!(s.auth.tokens[0].scopes, [Scope::Compliance, Scope::Rtb]);
    // The names in configuration are the names in `/v1/admin/whoami`.
    assert_eq!(Scope::ALL.first(), Some(&Scope::Admin));
    let names: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["admin", "compliance", "analyst", "rtb", "ops"]);
}

#[test]
fn a_short_admin_token_is_refused_at_load_without_echoing_it() {
    let err = local_err("[auth]\nadmin_token = \"admin123-not-long\"\n");
    assert!(err.contains("auth.admin_token") && err.contains("at least 32"), "{err}");
    assert!(!err.contains("admin123"), "{err}");
    let err = env_err(&[("PERSONIFY__AUTH__ADMIN_TOKEN", "admin123-not-long")]);
    assert!(err.contains("auth.admin_token") && !err.contains("admin123"), "{err}");
    let long = "a".repeat(MIN_TOKEN_LEN);
    let s = with_local(&format!("[auth]\nadmin_token = \"{long}\"\n")).unwrap();
    assert!(!format!("{s:?}").contains(&long), "Debug never shows the token");
    assert!(
        with_local("[auth]\nadmin_token = \"\"\n").is_ok(),
        "empty: no master token"
    );
}

#[test]
fn origins_are_exact_at_load() {
    for bad in [
        "https://a.example/path",
        "*",
        "bank.example",
        "ftp://bank.example",
        "https://u@a.example",
        "null",
    ] {
        let err = env_err(&[("PERSONIFY__CORS__ALLOWED_ORIGINS", bad)]);
        assert!(
            err.contains("cors.allowed_origins") && err.contains("not an origin"),
            "{err}"
        );
    }
    let s =
        with_local("[cors]\nallowed_origins = [\"HTTPS://Bank.Example:443/\", \"http://127.0.0.1:8081\"]\n").unwrap();
    assert_eq!(
        strings(&s.cors.allowed_origins),
        ["https://bank.example", "http://127.0.0.1:8081"]
    );
}

#[test]
fn limits_are_at_least_one_at_load() {
    for (key, var) in [
        ("limits.events.per_minute", "PERSONIFY__LIMITS__EVENTS__PER_MINUTE"),
        ("limits.consent.burst", "PERSONIFY__LIMITS__CONSENT__BURST"),
        ("limits.rtb_page.burst", "PERSONIFY__LIMITS__RTB_PAGE__BURST"),
    ] {
        let err = env_err(&[(var, "0")]);
        assert!(err.contains(key) && err.contains("limits.enabled = false"), "{err}");
    }
    let err = env_err(&[("PERSONIFY__LIMITS__MAX_NETWORKS", "0")]);
    assert!(
        err.contains("limits.max_networks") && err.contains("at least 1"),
        "{err}"
    );
    let err = env_err(&[("PERSONIFY__LIMITS__OPT_OUT__PER_MINUTE", "-1")]);
    assert!(err.contains("limits.opt_out.per_minute"), "{err}");
}

#[test]
fn the_store_url_is_parsed_at_load_and_never_echoed() {
    for bad in [
        "mysql://user:hunter2@db/personify",
        "postgres://user:hunter2@db:notaport/personify",
        "sqlite://",
        "data/personify.db",
    ] {
        let err = env_err(&[("PERSONIFY__STORE__URL", bad)]);
        assert!(err.contains("store.url"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    let s = Settings::load_with_env(
        Path::new("config"),
        env(&[("PERSONIFY__STORE__URL", "postgres://user:hunter2@db:5432/personify")]),
    )
    .unwrap();
    assert_eq!(s.store.url.kind(), StoreKind::Postgres);
    assert_eq!(s.store.url.local_dir(), None);
    assert!(!format!("{s:?}").contains("hunter2"));
    let s = with_local("[store]\nurl = \"sqlite:db/personify.db?mode=rwc\"\n").unwrap();
    assert_eq!(s.store.url.local_dir(), Some(PathBuf::from("db")));
    // A database in the working directory would hold the default key directory.
    let err = local_err("[store]\nurl = \"sqlite:personify.db\"\n");
    assert!(err.contains("consent.log_key_file"), "{err}");
}

#[test]
fn listen_addresses_are_parsed_at_load() {
    for bad in ["9464", "10.0.0.5", "10.0.0.5:99999", "bad host:9464", ":9464"] {
        let err = env_err(&[("PERSONIFY__SERVER__METRICS_ADDR", bad)]);
        assert!(err.contains("server.metrics_addr"), "{bad}: {err}");
    }
    let err = env_err(&[("PERSONIFY__SERVER__METRICS_ADDR", "127.0.0.1:8080")]);
    assert!(
        err.contains("server.metrics_addr") && err.contains("main listener"),
        "{err}"
    );
    for bad in ["bad host", "", "300.1.1.1", "-x.example"] {
        let err = local_err(&format!("[server]\nhost = \"{bad}\"\n"));
        assert!(err.contains("server.host"), "{bad}: {err}");
    }
    let s = with_local("[server]\nhost = \"::1\"\nmetrics_addr = \"[::1]:9464\"\n").unwrap();
    assert_eq!(
        s.server.metrics_addr.map(|a| a.to_string()).as_deref(),
        Some("[::1]:9464")
    );
    assert!(with_local("[server]\nhost = \"localhost\"\n").is_ok());
    assert!(
        with_local("[server]\nhost = \"personify_db\"\n").is_ok(),
        "container service names"
    );
}

#[test]
fn the_consent_log_key_settings_are_checked_at_load() {
    let err = local_err("[store]\nurl = \"sqlite://data/p.db\"\n[consent]\nlog_key_file = \"data/keys/log.key\"\n");
    assert!(
        err.contains("consent.log_key_file") && err.contains("inside the data directory"),
        "{err}"
    );
    let err = local_err("[consent]\nlog_key_file = \"\"\n");
    assert!(err.contains("consent.log_key_file"), "{err}");
    // PERSONIFY_CONSENT_LOG_KEY: a base64 32-byte seed, never echoed.
    let err = log_key_seed(Some("c2hvcnQ=")).unwrap_err().to_string();
    assert!(err.contains(LOG_KEY_ENV) && !err.contains("c2hvcnQ"), "{err}");
    assert!(log_key_seed(Some(" ")).unwrap().is_none());
    use base64::Engine;
    let seed = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let parsed = log_key_seed(Some(&seed)).unwrap().unwrap();
    assert_eq!(parsed.expose(), &[7u8; 32]);
    assert!(!format!("{parsed:?}").contains(&seed));
}

#[test]
fn an_empty_checkpoint_dir_means_none() {
    let s = with_local("[consent]\ncheckpoint_dir = \"\"\n").unwrap();
    assert_eq!(s.consent.checkpoint_dir, None);
    let s = Settings::load_with_env(Path::new("config"), env(&[])).unwrap();
    assert_eq!(s.consent.checkpoint_dir, Some(PathBuf::from("checkpoints")));
}

#[test]
fn a_ca_file_is_for_postgres_only() {
    let err = local_err("[store]\nurl = \"sqlite://data/p.db\"\nca_file = \"/etc/personify/db-ca.pem\"\n");
    assert!(err.contains("store.ca_file") && err.contains("postgres://"), "{err}");
    let s = with_local("[store]\nurl = \"postgres://db.internal/personify\"\nca_file = \"/etc/personify/db-ca.pem\"\n")
        .expect("loads");
    assert_eq!(
        s.store.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/personify/db-ca.pem"))
    );
    let s = with_local("[store]\nurl = \"postgres://db.internal/personify\"\nca_file = \"\"\n").expect("loads");
    assert_eq!(
        s.store.ca_file, None,
        "empty is none (an environment variable set to nothing)"
    );
}
