//! Visitor keys: keyed hashes that stand in for a visitor and never leave the server.
//!
//! A [`VisitorKey`] can only be made here, from a [`VisitorId`] (first-party random id) under the
//! long-lived secret, or from the connection (IP + User-Agent) under the salt of the current UTC day.
//! Raw ids, IPs and User-Agents go in and only the 32-byte HMAC comes out.

pub mod cidr;
pub mod network;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Longest visitor id accepted.
pub const MAX_VISITOR_ID_LEN: usize = 128;
/// Shortest visitor id accepted: 22 base64url characters carry 132 bits, a UUID's 36 characters 122.
pub const MIN_VISITOR_ID_LEN: usize = 22;
/// Fewest distinct characters: a random id of 22 or more characters has far more, a made-up one
/// (`aaaa…`, the nil UUID) has fewer.
const MIN_DISTINCT_CHARS: usize = 8;

/// A first-party random visitor id as sent by the client: unguessable, so nobody can read or change
/// another visitor's consent by trying ids. Either a UUID (`crypto.randomUUID()`) or 22–128 characters
/// of the base64url alphabet (`A–Z a–z 0–9 _ -`, e.g. 16 random bytes base64url-encoded), with at
/// least 8 distinct characters. One parse for every route.
#[derive(Clone, PartialEq, Eq)]
pub struct VisitorId(String);

impl std::fmt::Debug for VisitorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VisitorId(<redacted>)")
    }
}

/// Why a visitor id was refused (the id itself is never repeated).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VisitorIdError {
    /// Empty.
    #[error("must not be empty; make one with crypto.randomUUID()")]
    Empty,
    /// Shorter than a random id.
    #[error("must be a UUID or at least {MIN_VISITOR_ID_LEN} base64url characters; make one with crypto.randomUUID()")]
    TooShort,
    /// Over the length limit.
    #[error("must be at most {MAX_VISITOR_ID_LEN} characters")]
    TooLong,
    /// Outside the base64url alphabet.
    #[error("must contain only A-Z, a-z, 0-9, _ and - (a UUID or base64url); make one with crypto.randomUUID()")]
    BadCharacters,
    /// Too few distinct characters to be random.
    #[error("does not look random (too few distinct characters); make one with crypto.randomUUID()")]
    NotRandom,
}

impl VisitorId {
    /// Parses a client-supplied id.
    pub fn parse(raw: &str) -> Result<VisitorId, VisitorIdError> {
        if raw.is_empty() {
            return Err(VisitorIdError::Empty);
        }
        if raw.len() > MAX_VISITOR_ID_LEN {
            return Err(VisitorIdError::TooLong);
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(VisitorIdError::BadCharacters);
        }
        if raw.len() < MIN_VISITOR_ID_LEN {
            return Err(VisitorIdError::TooShort);
        }
        let mut seen = [false; 128];
        raw.bytes()
            .filter(|&b| b != b'-')
            .for_each(|b| seen[usize::from(b)] = true);
        if seen.iter().filter(|&&s| s).count() < MIN_DISTINCT_CHARS {
            return Err(VisitorIdError::NotRandom);
        }
        Ok(VisitorId(raw.to_string()))
    }

    /// The id text, for the PII firewall only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a key was derived, which decides how long bucketing is sticky.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// From a first-party id: stable while the id and the secret are.
    FirstParty,
    /// From IP + User-Agent under the daily salt: stable for one UTC day only.
    Cookieless,
}

/// An opaque 32-byte keyed hash standing for one visitor; only this module can make one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VisitorKey {
    bytes: [u8; 32],
    kind: KeyKind,
}

impl std::fmt::Debug for VisitorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VisitorKey({:?}, {}…)", self.kind, hex::encode(&self.bytes[..4]))
    }
}

impl VisitorKey {
    /// The key bytes (input to bucketing and sketches; never sent to a client).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// How it was derived.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// A key from known bytes, for published test vectors and benchmarks only.
    #[doc(hidden)]
    pub fn from_test_bytes(bytes: [u8; 32]) -> VisitorKey {
        VisitorKey {
            bytes,
            kind: KeyKind::FirstParty,
        }
    }
}

/// A 32-byte random secret that never prints.
#[derive(Clone)]
pub struct Secret([u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// Draws a new secret from the operating system's CSPRNG.
    pub fn generate() -> Secret {
        let mut b = [0u8; 32];
        // ThreadRng is a ChaCha CSPRNG seeded from the operating system.
        rand::rng().fill_bytes(&mut b);
        Secret(b)
    }

    /// Wraps stored bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Secret {
        Secret(bytes)
    }

    /// The bytes, for persisting.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The value of each byte as a hex digit (either case), 0xff for any other byte.
const HEX_DIGIT: [u8; 256] = {
    let mut t = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// The keyed hash under which a visitor's explicit consent is recorded: independent of the site, so
/// a CMP and every page of the deployment agree on it. Stored as hex; never the raw id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsentSubject([u8; 32]);

impl std::fmt::Debug for ConsentSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConsentSubject({}…)", hex::encode(&self.0[..4]))
    }
}

impl ConsentSubject {
    /// The raw keyed hash (what a log leaf's commitment covers).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, as stored.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads a stored subject back: exactly 64 hex characters. By table and without allocating,
    /// because a start decodes one per log entry (millions; the `hex` crate took a tenth of it).
    pub fn from_hex(s: &str) -> Option<ConsentSubject> {
        let s: &[u8; 64] = s.as_bytes().try_into().ok()?;
        let mut bytes = [0u8; 32];
        for (b, pair) in bytes.iter_mut().zip(s.chunks_exact(2)) {
            let (hi, lo) = (HEX_DIGIT[usize::from(pair[0])], HEX_DIGIT[usize::from(pair[1])]);
            if (hi | lo) > 0x0f {
                return None;
            }
            *b = hi << 4 | lo;
        }
        Some(ConsentSubject(bytes))
    }
}

/// Salts by UTC day: yesterday's (for requests around midnight), today's and tomorrow's.
#[derive(Debug, Clone, Default)]
struct SaltSet {
    days: Vec<(i64, Secret)>,
}

/// The key material: the id secret and the daily salts, swapped lock-free when salts rotate.
pub struct Keyring {
    /// HMAC state already keyed with the id secret: keying hashes two blocks, so it is done once.
    secret: HmacSha256,
    /// Earlier generations of the secret, newest first: consent records and opt-outs keyed under
    /// them stay enforceable after a rotation (`docs/decisions/003-secret-rotation.md`).
    previous: Vec<HmacSha256>,
    salts: ArcSwap<SaltSet>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("salt_days", &self.salt_days())
            .finish_non_exhaustive()
    }
}

/// Days since the Unix epoch, UTC.
pub fn utc_day(now: SystemTime) -> i64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| (d.as_secs() / 86_400) as i64)
        .unwrap_or(0)
}

impl Keyring {
    /// A keyring around an existing secret, with a fresh local salt for today (tools and benches).
    pub fn new(secret: Secret, now: SystemTime) -> Keyring {
        let salts = SaltSet {
            days: vec![(utc_day(now), Secret::generate())],
        };
        Keyring {
            secret: keyed(secret.expose()),
            previous: Vec::new(),
            salts: ArcSwap::from_pointee(salts),
        }
    }

    /// Adds earlier generations of the secret (newest first), consulted only for consent records.
    pub fn with_previous(mut self, previous: Vec<Secret>) -> Keyring {
        self.previous = previous.iter().map(|s| keyed(s.expose())).collect();
        self
    }

    /// The subjects a visitor's consent may be recorded under in earlier generations, newest first.
    pub fn previous_consent_subjects<'a>(&'a self, id: &'a VisitorId) -> impl Iterator<Item = ConsentSubject> + 'a {
        self.previous
            .iter()
            .map(move |k| ConsentSubject(hmac_keyed(k, &[b"consent", id.0.as_bytes()])))
    }

    /// A keyring with the shared salts read from the store.
    pub fn with_salts(secret: Secret, salts: Vec<(i64, Secret)>) -> Keyring {
        Keyring {
            secret: keyed(secret.expose()),
            previous: Vec::new(),
            salts: ArcSwap::from_pointee(SaltSet { days: salts }),
        }
    }

    /// Replaces the salts with the store's current ones (background rotation).
    pub fn install_salts(&self, salts: Vec<(i64, Secret)>) {
        self.salts.store(Arc::new(SaltSet { days: salts }));
    }

    /// UTC days whose salt is held.
    pub fn salt_days(&self) -> Vec<i64> {
        self.salts.load().days.iter().map(|(d, _)| *d).collect()
    }

    /// The subject a visitor's explicit consent is recorded under.
    pub fn consent_subject(&self, id: &VisitorId) -> ConsentSubject {
        ConsentSubject(hmac_keyed(&self.secret, &[b"consent", id.0.as_bytes()]))
    }

    /// The key for a first-party visitor id on a site.
    pub fn first_party(&self, site: &str, id: &VisitorId) -> VisitorKey {
        VisitorKey {
            bytes: hmac_keyed(&self.secret, &[site.as_bytes(), id.0.as_bytes()]),
            kind: KeyKind::FirstParty,
        }
    }

    /// The cookieless key for a connection on a site, under the salt of the current UTC day.
    pub fn cookieless(&self, site: &str, ip: Option<IpAddr>, user_agent: &str, now: SystemTime) -> VisitorKey {
        let day = utc_day(now);
        let ip = ip.map(|a| a.to_string()).unwrap_or_default();
        let parts: [&[u8]; 3] = [site.as_bytes(), ip.as_bytes(), user_agent.as_bytes()];
        let held = self
            .salts
            .load()
            .days
            .iter()
            .find(|(d, _)| *d == day)
            .map(|(_, salt)| hmac(salt.expose(), &parts));
        let bytes = held.unwrap_or_else(|| {
            // The background task pre-loads tomorrow's salt; reaching here means the store could not
            // be read in time. A local salt keeps days unlinkable; other nodes will differ today.
            tracing::warn!(day, "no shared salt for today; using a local one");
            self.salts.rcu(|old| {
                let mut next = (**old).clone();
                if !next.days.iter().any(|(d, _)| *d == day) {
                    next.days.push((day, Secret::generate()));
                }
                next
            });
            let salts = self.salts.load();
            let salt = salts
                .days
                .iter()
                .find(|(d, _)| *d == day)
                .map_or_else(Secret::generate, |(_, s)| s.clone());
            hmac(salt.expose(), &parts)
        });
        VisitorKey {
            bytes,
            kind: KeyKind::Cookieless,
        }
    }
}

/// HMAC-SHA256 over length-prefixed parts, so `("ab","c")` and `("a","bc")` differ.
fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    hmac_keyed(&keyed(key), parts)
}

/// An HMAC state keyed with `key`.
fn keyed(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

/// [`hmac`] from an already keyed state.
fn hmac_keyed(keyed: &HmacSha256, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = keyed.clone();
    for p in parts {
        mac.update(&(p.len() as u32).to_be_bytes());
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn visitor_ids_must_be_unguessable() {
        assert!(VisitorId::parse("f3b1c9e0-7a4d-4c1e-9a55-1d2e3f4a5b6c").is_ok());
        assert!(VisitorId::parse("F3B1C9E0-7A4D-4C1E-9A55-1D2E3F4A5B6C").is_ok());
        assert!(VisitorId::parse("q7Vh2LxN0pRk-3sTz_9WfA").is_ok());
        assert_eq!(VisitorId::parse(""), Err(VisitorIdError::Empty));
        assert_eq!(VisitorId::parse("1"), Err(VisitorIdError::TooShort));
        assert_eq!(VisitorId::parse("q7Vh2LxN0pRk-3sTz_9Wf"), Err(VisitorIdError::TooShort));
        assert_eq!(VisitorId::parse(&"a".repeat(1024)), Err(VisitorIdError::TooLong));
        assert_eq!(VisitorId::parse("a b"), Err(VisitorIdError::BadCharacters));
        assert_eq!(
            VisitorId::parse("jane.doe@example.com-0123456789"),
            Err(VisitorIdError::BadCharacters)
        );
        assert_eq!(
            VisitorId::parse("00000000-0000-0000-0000-000000000000"),
            Err(VisitorIdError::NotRandom)
        );
        assert_eq!(VisitorId::parse(&"ab".repeat(20)), Err(VisitorIdError::NotRandom));
        let id = VisitorId::parse("secretsecret-q7Vh2LxN0pRk").unwrap();
        assert!(!format!("{id:?}").contains("secret"));
    }

    #[test]
    fn a_consent_subject_reads_back_from_exactly_64_hex_digits() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37 + 5) as u8);
        let s = ConsentSubject(bytes);
        assert_eq!(ConsentSubject::from_hex(&s.to_hex()), Some(s));
        assert_eq!(ConsentSubject::from_hex(&s.to_hex().to_uppercase()), Some(s));
        let good = "0123456789abcdefABCDEF".repeat(3)[..64].to_string();
        assert_eq!(
            ConsentSubject::from_hex(&good).map(|s| s.to_hex()),
            Some(good.to_lowercase())
        );
        for bad in [
            &good[..63],
            &format!("{good}0"),
            &format!("{}g", &good[..63]),
            &format!("{} ", &good[..63]),
            // 64 bytes, not 64 characters.
            &format!("{}é", &good[..62]),
            "",
        ] {
            assert_eq!(ConsentSubject::from_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_are_stable_per_site_and_salt_changes_daily() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_390_200);
        let ring = Keyring::new(Secret::from_bytes([7; 32]), now);
        let id = VisitorId::parse("f3b1c9e0-7a4d-4c1e-9a55-1d2e3f4a5b6c").unwrap();
        assert_eq!(
            ring.first_party("bank.example", &id),
            ring.first_party("bank.example", &id)
        );
        assert_ne!(
            ring.first_party("bank.example", &id),
            ring.first_party("other.example", &id)
        );
        let ip = "203.0.113.7".parse().ok();
        let today = ring.cookieless("s", ip, "UA", now);
        assert_eq!(today, ring.cookieless("s", ip, "UA", now));
        let tomorrow = ring.cookieless("s", ip, "UA", now + Duration::from_secs(86_400));
        assert_ne!(today, tomorrow);
        assert_eq!(tomorrow.kind(), KeyKind::Cookieless);
    }
}
