//! Layered configuration: embedded defaults < `DIR/default.toml` < `DIR/local.toml` < `PERSONIFY__…` env.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Every list-valued key: each can be set from the environment as comma-separated values
/// (`PERSONIFY__CORS__ALLOWED_ORIGINS=https://a.example,https://b.example`).
pub const LIST_KEYS: &[&str] = &[
    "server.trusted_proxies",
    "consent.opt_in_countries",
    "consent.sources",
    "consent.policy_versions",
    "signals.search_referrers",
    "signals.social_referrers",
    "signals.email_referrers",
    "signals.internal_hosts",
    "cors.allowed_origins",
];

/// The shipped defaults, compiled in so the binary runs even without a `config/` directory.
const EMBEDDED_DEFAULTS: &str = include_str!("../config/default.toml");

/// Everything personify reads from configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTP listener and request limits.
    pub server: ServerSettings,
    /// Where consent records, secrets and sketches live.
    pub store: StoreSettings,
    /// Where the segment rules are.
    pub rules: RulesSettings,
    /// Release thresholds, PII policy and retention.
    pub privacy: PrivacySettings,
    /// Aggregate counting.
    pub counts: CountsSettings,
    /// Coarse location.
    pub geo: GeoSettings,
    /// Jurisdiction defaults for consent.
    pub consent: ConsentSettings,
    /// How raw request input becomes signals.
    pub signals: SignalSettings,
    /// Admin tokens.
    pub auth: AuthSettings,
    /// Ad integrations.
    pub rtb: RtbSettings,
    /// Which browser origins may call the browser routes.
    pub cors: CorsSettings,
    /// Per-client rate limits on the public write routes.
    pub limits: LimitSettings,
    /// Who is responsible for the processing (shown in the record of processing).
    #[serde(default)]
    pub controller: crate::compliance::Controller,
}

/// `[cors]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    /// Exact origins (`https://www.bank.example`) whose pages may call the browser routes, besides
    /// personify's own origin.
    pub allowed_origins: Vec<String>,
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Off only for load tests and benchmarks.
    pub enabled: bool,
    /// Most client networks tracked at once; beyond it new networks share one bucket.
    pub max_networks: usize,
    /// `POST /v1/consent`
    pub consent: RouteLimit,
    /// `POST /v1/consent/status`
    pub consent_status: RouteLimit,
    /// `POST /v1/opt-out`
    pub opt_out: RouteLimit,
    /// `POST /v1/events`
    pub events: RouteLimit,
    /// `POST /v1/rtb/segments` from a page (no token)
    pub rtb_page: RouteLimit,
}

/// One route's token bucket, per client network.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteLimit {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed at once before the sustained rate applies.
    pub burst: u32,
}

/// `[rtb]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtbSettings {
    /// Provider name in `user.data`.
    pub provider_name: String,
    /// IAB taxonomy files segment taxonomy ids are verified against (check and startup).
    pub taxonomy_dir: PathBuf,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one (tests).
    pub port: u16,
    /// Worker threads; 0 = one per core.
    pub workers: usize,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Header with the client address set by a trusted proxy; empty = TCP peer.
    pub client_ip_header: String,
    /// CIDRs of proxies whose country and client-address headers are believed.
    pub trusted_proxies: Vec<String>,
    /// Seconds a client has to send the whole request body (408 after).
    pub body_timeout_seconds: u64,
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://path` or `postgres://…`.
    pub url: String,
}

/// `[rules]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSettings {
    /// Directory holding `*.toml` segment rules.
    pub dir: PathBuf,
    /// Phrases content shown to sensitive segments must not contain.
    #[serde(default)]
    pub tone: crate::rules::ToneLists,
}

/// What to do with a signal value that looks like personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiPolicy {
    /// Drop the signal and name it in `warnings`.
    Scrub,
    /// Answer 400 naming the field.
    Reject,
}

/// `[privacy]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// Minimum distinct visitors before a count is released.
    pub k: u64,
    /// Discrete Laplace privacy budget per released count; 0 disables noise.
    pub epsilon: f64,
    /// Scrub or reject personal-looking signal values.
    pub pii_policy: PiiPolicy,
    /// Days of daily sketches kept.
    pub retention_days: u32,
}

/// `[counts]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountsSettings {
    /// Seconds between sketch flushes to the store.
    pub flush_seconds: u64,
    /// Seconds between recomputations of the RTB release set.
    pub release_refresh_seconds: u64,
}

/// `[geo]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoSettings {
    /// Header carrying the ISO 3166-1 alpha-2 country, set by a trusted proxy.
    pub country_header: String,
}

/// `[consent]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentSettings {
    /// Alpha-2 codes of opt-in jurisdictions.
    pub opt_in_countries: Vec<String>,
    /// personify's IAB GVL vendor id: when set, TCF grants need this vendor's consent bit and
    /// publisher restrictions naming it apply.
    #[serde(default)]
    pub tcf_vendor_id: Option<u16>,
    /// The closed set of `source` values `/v1/consent` and `/v1/opt-out` accept.
    pub sources: Vec<String>,
    /// The privacy policy versions a consent may name; anything else is refused.
    pub policy_versions: Vec<String>,
}

/// `[signals]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalSettings {
    /// Referrer host patterns classified as search engines.
    pub search_referrers: Vec<String>,
    /// Referrer host patterns classified as social networks.
    pub social_referrers: Vec<String>,
    /// Referrer host patterns classified as webmail.
    pub email_referrers: Vec<String>,
    /// Extra hosts treated as internal referrers.
    pub internal_hosts: Vec<String>,
}

/// `[auth]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Master token with every scope; never printed.
    pub admin_token: String,
    /// Scoped tokens, stored by the SHA-256 of their value.
    #[serde(default)]
    pub tokens: Vec<TokenSettings>,
}

/// `[[auth.tokens]]`: one scoped token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Who holds it (for operators).
    pub name: String,
    /// Lowercase hex SHA-256 of the token value.
    pub sha256: String,
    /// `admin`, `compliance`, `analyst`, `rtb`, `ops`.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let master = if self.admin_token.is_empty() {
            "<unset>"
        } else {
            "<redacted>"
        };
        f.debug_struct("AuthSettings")
            .field("admin_token", &master)
            .field("tokens", &self.tokens)
            .finish()
    }
}

/// A configuration that could not be loaded, naming the key or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or a value has the wrong type.
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// A value parsed but makes no sense.
    #[error("configuration: {key}: {message}")]
    Invalid {
        /// The dotted key at fault.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl Settings {
    /// Loads the layered configuration from `dir` (usually `config/`) and the process environment.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(dir, config::Environment::with_prefix("PERSONIFY"))
    }

    /// Like [`Settings::load`], with the environment source given (tests pass their own map).
    pub fn load_with_env(dir: &Path, env: config::Environment) -> Result<Self, ConfigError> {
        let env = LIST_KEYS.iter().fold(
            env.prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(","),
            |env, key| env.with_list_parse_key(key),
        );
        let builder = config::Config::builder()
            .add_source(config::File::from_str(EMBEDDED_DEFAULTS, config::FileFormat::Toml))
            .add_source(config::File::from(dir.join("default.toml")).required(false))
            .add_source(config::File::from(dir.join("local.toml")).required(false))
            .add_source(env);
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        if let Ok(token) = std::env::var("PERSONIFY_ADMIN_TOKEN") {
            settings.auth.admin_token = token;
        }
        settings.validate()?;
        Ok(settings)
    }

    /// The embedded defaults alone (benches and unit tests).
    pub fn defaults() -> Result<Self, ConfigError> {
        let mut settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(EMBEDDED_DEFAULTS, config::FileFormat::Toml))
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        if self.server.max_body_bytes < 256 {
            return Err(ConfigError::Invalid {
                key: "server.max_body_bytes",
                message: "must be at least 256".into(),
            });
        }
        if !(self.privacy.epsilon >= 0.0 && self.privacy.epsilon.is_finite()) {
            return Err(ConfigError::Invalid {
                key: "privacy.epsilon",
                message: "must be a finite number >= 0".into(),
            });
        }
        if self.privacy.k == 0 {
            return Err(ConfigError::Invalid {
                key: "privacy.k",
                message: "must be at least 1".into(),
            });
        }
        if self.counts.flush_seconds == 0 {
            return Err(ConfigError::Invalid {
                key: "counts.flush_seconds",
                message: "must be at least 1".into(),
            });
        }
        if self.geo.country_header.trim().is_empty() {
            return Err(ConfigError::Invalid {
                key: "geo.country_header",
                message: "must name a header".into(),
            });
        }
        for code in &mut self.consent.opt_in_countries {
            let upper = code.trim().to_ascii_uppercase();
            if upper.len() != 2 || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(ConfigError::Invalid {
                    key: "consent.opt_in_countries",
                    message: format!("{code:?} is not an ISO 3166-1 alpha-2 code"),
                });
            }
            *code = upper;
        }
        // An empty environment value arrives as one empty item: an empty list is what was meant.
        for list in [
            &mut self.server.trusted_proxies,
            &mut self.consent.sources,
            &mut self.consent.policy_versions,
            &mut self.cors.allowed_origins,
        ] {
            list.iter_mut().for_each(|v| *v = v.trim().to_string());
            list.retain(|v| !v.is_empty());
        }
        closed_set("consent.sources", &self.consent.sources)?;
        closed_set("consent.policy_versions", &self.consent.policy_versions)?;
        for origin in &mut self.cors.allowed_origins {
            *origin = normalise_origin(origin).ok_or_else(|| ConfigError::Invalid {
                key: "cors.allowed_origins",
                message: format!("{origin:?} is not an origin like https://www.bank.example (scheme and host, optional port, no path)"),
            })?;
        }
        if self.server.body_timeout_seconds == 0 {
            return Err(ConfigError::Invalid {
                key: "server.body_timeout_seconds",
                message: "must be at least 1".into(),
            });
        }
        for (key, limit) in [
            ("limits.consent", self.limits.consent),
            ("limits.consent_status", self.limits.consent_status),
            ("limits.opt_out", self.limits.opt_out),
            ("limits.events", self.limits.events),
            ("limits.rtb_page", self.limits.rtb_page),
        ] {
            if limit.per_minute == 0 || limit.burst == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    message: "per_minute and burst must be at least 1 (set limits.enabled = false to turn limits off)"
                        .into(),
                });
            }
        }
        if self.limits.max_networks == 0 {
            return Err(ConfigError::Invalid {
                key: "limits.max_networks",
                message: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// A closed set of labels stored in the consent log: short, plain, and not empty.
fn closed_set(key: &'static str, values: &[String]) -> Result<(), ConfigError> {
    if values.is_empty() {
        return Err(ConfigError::Invalid {
            key,
            message: "must list at least one value".into(),
        });
    }
    for v in values {
        let plain = v.len() <= 64
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if !plain {
            return Err(ConfigError::Invalid {
                key,
                message: format!("{v:?} must be 1-64 characters of A-Z, a-z, 0-9, _ - . :"),
            });
        }
    }
    Ok(())
}

/// `scheme://host[:port]` in lowercase, as browsers send it in `Origin`; `None` for anything else.
pub fn normalise_origin(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && !raw.trim().trim_end_matches('/').ends_with("/.");
    // `ascii_serialization` drops a default port, as browsers do.
    bare.then(|| url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
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
        let err = Settings::load_with_env(Path::new("config"), env(&[("PERSONIFY__PRIVACY__PII_POLICY", "shred")]))
            .unwrap_err();
        assert!(err.to_string().contains("pii_policy"), "{err}");
    }
}
