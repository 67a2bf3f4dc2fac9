//! Typed configuration values, each parsed once at load: what the server builds from them cannot fail
//! on configuration.

use std::fmt;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use secrecy::{ExposeSecret, SecretBox};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

pub use crate::domain::privacy::cidr::Cidr;
pub use actix_web::http::header::HeaderName;

/// What a token may do; its name in configuration and in `/v1/admin/whoami` is the lowercase variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "lowercase")]
pub enum Scope {
    /// Everything.
    Admin,
    /// Consent log, verification, compliance view.
    Compliance,
    /// Reports.
    Analyst,
    /// RTB targeting.
    Rtb,
    /// Operations: metrics.
    Ops,
}

impl Scope {
    /// Every scope, `admin` first.
    pub const ALL: &'static [Scope] = <Scope as strum::VariantArray>::VARIANTS;

    /// The scope's name in configuration and in `/v1/admin/whoami`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl<'de> Deserialize<'de> for Scope {
    /// Case-sensitive, as written in `/v1/admin/whoami`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(|_| {
            let all: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            D::Error::custom(format!("unknown scope {name:?} (one of {})", all.join(", ")))
        })
    }
}

/// Shortest admin token accepted: anything shorter could be guessed online.
pub const MIN_TOKEN_LEN: usize = 32;

/// The SHA-256 of a bearer token (`auth.tokens[].sha256`, or of the master token).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of a token value.
    pub fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// The 32 bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

impl FromStr for TokenHash {
    type Err = &'static str;

    /// 64 hex characters; the value is never echoed in the error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hex::decode(s.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(TokenHash)
            .ok_or("sha256 must be 64 hex characters (printf %s \"$TOKEN\" | sha256sum)")
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

/// An exact browser origin, `scheme://host[:port]` in lowercase as browsers send it in `Origin`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin(String);

impl Origin {
    /// The serialised origin.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Origin {
    type Err = String;

    /// Normalised (lowercase, default port dropped, one trailing slash allowed); anything with a path,
    /// query, user or another scheme is refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        super::normalise_origin(s).map(Origin).ok_or_else(|| {
            format!("{s:?} is not an origin like https://www.bank.example (scheme and host, optional port, no path)")
        })
    }
}

/// Which backend `store.url` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// `sqlite://PATH`
    Sqlite,
    /// `postgres://…`
    Postgres,
}

impl StoreKind {
    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
        }
    }
}

/// `store.url`, checked for its scheme and syntax (not for reachability). Never printed: a
/// PostgreSQL URL may hold a password.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl {
    raw: String,
    kind: StoreKind,
}

impl StoreUrl {
    /// The URL as configured, for the store to open.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The backend.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// The directory of a local SQLite file (the consent log key must not lie inside it); `None` for
    /// PostgreSQL and in-memory databases.
    pub fn local_dir(&self) -> Option<PathBuf> {
        let path = sqlite_path(&self.raw)?;
        if path == ":memory:" {
            return None;
        }
        let parent = Path::new(path).parent()?;
        Some(if parent.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            parent.to_path_buf()
        })
    }
}

/// The path of a `sqlite:` URL, without its options; `None` for another scheme or an empty path.
fn sqlite_path(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    Some(path.split('?').next().unwrap_or("")).filter(|p| !p.is_empty())
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            StoreKind::Sqlite => write!(f, "StoreUrl({:?})", self.raw),
            StoreKind::Postgres => f.write_str("StoreUrl(postgres://<redacted>)"),
        }
    }
}

impl FromStr for StoreUrl {
    type Err = &'static str;

    /// The same parse the store does when it opens the URL, without connecting.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = if s.starts_with("sqlite:") {
            sqlite_path(s).ok_or("a sqlite URL needs a path: sqlite://data/personify.db")?;
            sqlx::sqlite::SqliteConnectOptions::from_str(s).map_err(|_| "is not a valid sqlite:// URL")?;
            StoreKind::Sqlite
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            sqlx::postgres::PgConnectOptions::from_str(s)
                .map_err(|_| "is not a valid postgres:// URL (the value is not shown: it may hold a password)")?;
            StoreKind::Postgres
        } else {
            return Err("must be sqlite://PATH or postgres://… (the value is not shown: it may hold a password)");
        };
        Ok(StoreUrl {
            raw: s.to_string(),
            kind,
        })
    }
}

impl<'de> Deserialize<'de> for StoreUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

/// A `host:port` to listen on (`[::1]:9464` for an IPv6 address); port 0 picks a free one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// An IP address or a host name.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not host:port, e.g. 10.0.0.5:9464 or [::1]:9464");
        let (host, port) = s.trim().rsplit_once(':').ok_or_else(bad)?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let port = port.parse::<u16>().map_err(|_| bad())?;
        if !valid_host(host) {
            return Err(bad());
        }
        Ok(ListenAddr {
            host: host.to_string(),
            port,
        })
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

/// An IP address or a syntactically valid host name (whether it resolves is only known at bind).
pub fn valid_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                // `_` is not in a DNS host name, but container service names use it and resolve.
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        // A dotted quad that is not an address (`300.1.1.1`) is a typo, not a host name.
        && !host.split('.').next_back().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

/// The environment variable holding the consent log key (base64 of a 32-byte Ed25519 seed); it takes
/// the place of `consent.log_key_file`.
pub const LOG_KEY_ENV: &str = "PERSONIFY_CONSENT_LOG_KEY";

/// The consent log's signing seed from [`LOG_KEY_ENV`]: redacted in Debug, wiped on drop.
#[derive(Clone)]
pub struct LogKeySeed(Arc<SecretBox<[u8; 32]>>);

impl LogKeySeed {
    /// A base64-encoded 32-byte seed; `None` for anything else.
    pub fn from_base64(text: &str) -> Option<LogKeySeed> {
        let bytes: [u8; 32] = B64.decode(text.trim()).ok()?.try_into().ok()?;
        Some(LogKeySeed(Arc::new(SecretBox::new(Box::new(bytes)))))
    }

    /// The seed.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for LogKeySeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogKeySeed(<redacted>)")
    }
}

/// A header name from configuration: trimmed, lowercase, and a valid HTTP header name.
pub fn header_name(raw: &str) -> Result<HeaderName, String> {
    let name = raw.trim().to_ascii_lowercase();
    if name.is_empty() {
        return Err("must name a header".into());
    }
    HeaderName::try_from(name).map_err(|_| format!("{raw:?} is not a valid header name"))
}

/// Whether `key` lies inside `data_dir` (both made absolute against the working directory).
pub fn path_is_inside(key: &Path, data_dir: &Path) -> bool {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    abs(key).starts_with(abs(data_dir))
}

/// Serde adapters for fields whose text needs a parse.
pub(super) mod de {
    use super::*;

    /// A list of parsed values; blank items are dropped (an empty environment value arrives as one
    /// empty item, and an empty list is what was meant).
    pub fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr,
        T::Err: fmt::Display,
    {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| v.parse().map_err(D::Error::custom))
            .collect()
    }

    /// A header name.
    pub fn header<'de, D: Deserializer<'de>>(d: D) -> Result<HeaderName, D::Error> {
        header_name(&String::deserialize(d)?).map_err(D::Error::custom)
    }

    /// A header name, or none when empty.
    pub fn optional_header<'de, D: Deserializer<'de>>(d: D) -> Result<Option<HeaderName>, D::Error> {
        let raw = String::deserialize(d)?;
        if raw.trim().is_empty() {
            return Ok(None);
        }
        header_name(&raw).map(Some).map_err(D::Error::custom)
    }

    /// A path, or none when empty.
    pub fn optional_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        let raw = String::deserialize(d)?;
        let raw = raw.trim();
        Ok((!raw.is_empty()).then(|| PathBuf::from(raw)))
    }

    /// A `host:port`, when given.
    pub fn optional_listen_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ListenAddr>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|raw| raw.parse().map_err(D::Error::custom))
            .transpose()
    }

    /// A `[limits.*]` rate, at least 1.
    pub fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<NonZeroU32, D::Error> {
        NonZeroU32::new(u32::deserialize(d)?)
            .ok_or_else(|| D::Error::custom("must be at least 1 (set limits.enabled = false to turn limits off)"))
    }

    /// A count, at least 1.
    pub fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<NonZeroUsize, D::Error> {
        NonZeroUsize::new(usize::deserialize(d)?).ok_or_else(|| D::Error::custom("must be at least 1"))
    }
}
