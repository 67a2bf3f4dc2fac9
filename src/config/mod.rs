//! Layered configuration: embedded defaults < `DIR/default.toml` < `DIR/local.toml` < `PERSONIFY__…` env.

use std::path::{Path, PathBuf};

use std::num::{NonZeroU32, NonZeroUsize};

use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::consent::ConsentPolicy;
use crate::domain::rules::LoadOptions;
use crate::domain::signals::pii::PiiPolicy;
use crate::domain::signals::web::ReferrerLists;
use crate::domain::signals::SignalExtractor;

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
const EMBEDDED_DEFAULTS: &str = include_str!("../../config/default.toml");

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
    /// How experiment reports test.
    pub experiments: ExperimentSettings,
    /// Coarse location.
    pub geo: GeoSettings,
    /// Jurisdiction defaults for consent.
    pub consent: ConsentSettings,
    /// How raw request input becomes signals.
    pub signals: ReferrerLists,
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
    pub controller: crate::domain::compliance::Controller,
}

/// `[cors]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    /// Exact origins (`https://www.bank.example`) whose pages may call the browser routes, besides
    /// personify's own origin.
    #[serde(deserialize_with = "de::list")]
    pub allowed_origins: Vec<Origin>,
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Off only for load tests and benchmarks.
    pub enabled: bool,
    /// Most client networks tracked at once; beyond it new networks share one bucket.
    #[serde(deserialize_with = "de::at_least_one")]
    pub max_networks: NonZeroUsize,
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
    #[serde(deserialize_with = "de::rate")]
    pub per_minute: NonZeroU32,
    /// Requests allowed at once before the sustained rate applies.
    #[serde(deserialize_with = "de::rate")]
    pub burst: NonZeroU32,
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
    /// Header with the client address set by a trusted proxy; empty (`None`) = TCP peer.
    #[serde(deserialize_with = "de::optional_header")]
    pub client_ip_header: Option<HeaderName>,
    /// CIDRs of proxies whose country and client-address headers are believed.
    #[serde(deserialize_with = "de::list")]
    pub trusted_proxies: Vec<Cidr>,
    /// Seconds a client has to send the whole request body (408 after).
    pub body_timeout_seconds: u64,
    /// `host:port` of a second listener serving only `GET /metrics`, without a token, for scrapers
    /// inside the network; unset = no such listener.
    #[serde(default, deserialize_with = "de::optional_listen_addr")]
    pub metrics_addr: Option<ListenAddr>,
    /// Seconds `/readyz` answers 503 after SIGTERM while the node keeps serving, so a load balancer
    /// takes it out of rotation before it stops.
    pub drain_seconds: u64,
    /// Seconds in-flight requests get to finish once the listener closes.
    pub shutdown_seconds: u64,
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://path` or `postgres://…`.
    pub url: StoreUrl,
    /// PEM file of the CA that signed the PostgreSQL server's certificate: when set, every connection
    /// is TLS and checks the certificate and host name (`sslmode=verify-full`).
    #[serde(default, deserialize_with = "de::optional_path")]
    pub ca_file: Option<PathBuf>,
}

/// `[rules]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSettings {
    /// Directory holding `*.toml` segment rules.
    pub dir: PathBuf,
    /// Phrases content shown to sensitive segments must not contain.
    #[serde(default)]
    pub tone: crate::domain::rules::ToneLists,
    /// Reload the rules when a file in `dir` changes (SIGHUP and the admin route always work).
    pub watch: bool,
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

/// `[experiments]`: how experiment reports test (`docs/reports.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSettings {
    /// `sequential` (always-valid: look as often as you like) or `fixed_horizon` (read once, at
    /// the planned size); a report may ask for the other with `?method=`.
    pub method: crate::domain::experiments::Method,
    /// `holm` or `benjamini_hochberg`, over all arms × goals.
    pub adjustment: crate::domain::experiments::Adjustment,
    /// Error rate of the intervals and tests.
    pub alpha: f64,
}

/// `[geo]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoSettings {
    /// Header carrying the ISO 3166-1 alpha-2 country, set by a trusted proxy.
    #[serde(deserialize_with = "de::header")]
    pub country_header: HeaderName,
    /// A MaxMind-format country database, looked up for browser requests without a country header
    /// (empty in configuration: none); reloaded when the file changes.
    #[serde(deserialize_with = "de::optional_path")]
    pub mmdb_path: Option<PathBuf>,
    /// Fall back to the registries' table compiled into the binary (registration country: wrong for
    /// relays and VPNs, hence off by default).
    pub builtin: bool,
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
    /// The consent log's name in its checkpoints (C2SP origin line), e.g. `bank.example/consent-log`.
    pub log_origin: String,
    /// The Ed25519 key file that signs checkpoints: mode 0600, outside the data directory, created on
    /// first start. `PERSONIFY_CONSENT_LOG_KEY` (a base64 seed) takes its place when set.
    pub log_key_file: std::path::PathBuf,
    /// The key from `PERSONIFY_CONSENT_LOG_KEY` ([`LOG_KEY_ENV`]), read and decoded at load; when set
    /// it takes the place of `log_key_file`.
    #[serde(skip)]
    pub log_key_seed: Option<LogKeySeed>,
    /// Where each checkpoint is also written as a file, for shipping to write-once storage (empty in
    /// configuration: none).
    #[serde(deserialize_with = "de::optional_path")]
    pub checkpoint_dir: Option<PathBuf>,
    /// A checkpoint is issued at least this often while the log grows.
    pub checkpoint_seconds: u64,
    /// … and as soon as this many entries arrived since the last one.
    pub checkpoint_entries: u64,
    /// Most consent writes committed in one transaction (group commit).
    pub write_batch: usize,
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Master token with every scope; `secrecy` keeps it out of Debug output and wipes it on drop.
    pub admin_token: SecretString,
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
    /// SHA-256 of the token value (64 hex characters in configuration).
    pub sha256: TokenHash,
    /// `admin`, `compliance`, `analyst`, `rtb`, `ops`.
    pub scopes: Vec<Scope>,
}

/// A configuration that could not be loaded, naming the key or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or a value has the wrong type or does not parse.
    #[error("configuration: {}", dotted_keys(&.0.to_string()))]
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

/// `auth.tokens[0]sha256` (as the `config` crate writes a key below a list item) →
/// `auth.tokens[0].sha256`.
fn dotted_keys(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut after_index = false;
    for c in message.chars() {
        if after_index && (c.is_ascii_alphanumeric() || c == '_') {
            out.push('.');
        }
        after_index = c == ']';
        out.push(c);
    }
    out
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
            settings.auth.admin_token = token.into();
        }
        settings.consent.log_key_seed = log_key_seed(std::env::var(LOG_KEY_ENV).ok().as_deref())?;
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
}

/// The consent log key from the value of [`LOG_KEY_ENV`]: unset or blank is none; anything but a
/// base64 32-byte seed is refused (the value is never echoed).
pub fn log_key_seed(value: Option<&str>) -> Result<Option<LogKeySeed>, ConfigError> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    LogKeySeed::from_base64(value).map(Some).ok_or(ConfigError::Invalid {
        key: LOG_KEY_ENV,
        message: "must be the base64 encoding of a 32-byte Ed25519 seed".into(),
    })
}

mod types;
mod validate;

use types::de;
pub use types::{
    header_name, path_is_inside, valid_host, Cidr, HeaderName, ListenAddr, LogKeySeed, Origin, Scope, StoreKind,
    StoreUrl, TokenHash, LOG_KEY_ENV, MIN_TOKEN_LEN,
};
/// The domain's own option types, built from settings: no domain module reads configuration.
impl Settings {
    /// Request input → signals, with the PII policy and referrer lists.
    pub fn signal_extractor(&self) -> SignalExtractor {
        SignalExtractor::new(self.privacy.pii_policy, &self.signals)
    }

    /// Jurisdiction defaults and consent resolution.
    pub fn consent_policy(&self) -> ConsentPolicy {
        ConsentPolicy::new(&self.consent.opt_in_countries, self.consent.tcf_vendor_id)
    }

    /// The options `serve` and `check` load rules with: both verify the same things.
    pub fn rule_options(&self) -> LoadOptions {
        LoadOptions {
            taxonomy_dir: Some(self.rtb.taxonomy_dir.clone()),
            tone: self.rules.tone.clone(),
        }
    }
}

pub use validate::normalise_origin;

#[cfg(test)]
mod tests;
