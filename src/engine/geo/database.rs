//! The operator's MaxMind-format country database (`geo.mmdb_path`), held in memory and replaced
//! whole when the file changes.
//!
//! The file is untrusted input: the `maxminddb` reader checks every offset it follows, and a new
//! file is verified in full before it replaces the one serving. Records are read for
//! `country.iso_code` (GeoIP2 and GeoLite2 Country and City, DB-IP Lite) or `country_code`
//! (ip-location-db); `registered_country` is never read, since the registration country is wrong
//! for relays and VPNs.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use maxminddb::{PathElement, Reader};

use crate::domain::signals::Country;
use crate::metrics::{Metrics, ResultLabel};

/// How often the file's size, modification time and inode are compared with the loaded one's. A
/// poll rather than a file watch: it also sees a replaced symlink (a Kubernetes volume) or a file
/// on a network mount, for one `stat` per interval.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(2);

const ISO_CODE: &[PathElement<'static>] = &[PathElement::Key("country"), PathElement::Key("iso_code")];
const COUNTRY_CODE: &[PathElement<'static>] = &[PathElement::Key("country_code")];

/// A database that could not be loaded, naming the setting and the file (configuration, never a
/// request value).
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file could not be read.
    #[error("geo.mmdb_path {path}: cannot read the file: {source}")]
    Read {
        /// The configured path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a valid MaxMind DB.
    #[error("geo.mmdb_path {path}: not a valid MaxMind DB file: {source}")]
    Invalid {
        /// The configured path.
        path: PathBuf,
        /// What the reader found.
        source: maxminddb::MaxMindDbError,
    },
}

/// What identifies one version of the file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}

/// The loaded database and the version of the file it came from.
#[derive(Debug)]
pub struct Database {
    path: PathBuf,
    reader: ArcSwap<Reader<Vec<u8>>>,
    /// The version last tried, loaded or not: a bad file is reported once, not at every check.
    seen: Mutex<Option<Stamp>>,
}

impl Database {
    /// Reads and verifies the file.
    pub fn open(path: PathBuf) -> Result<Database, GeoError> {
        let stamp = Stamp::of(&path);
        let reader = load(&path)?;
        Ok(Database {
            path,
            reader: ArcSwap::from_pointee(reader),
            seen: Mutex::new(stamp),
        })
    }

    /// The country the database gives `ip`, if any. A lookup error (an IPv6 address in an IPv4-only
    /// database, a damaged record) is unknown.
    pub fn country(&self, ip: IpAddr) -> Option<Country> {
        let reader = self.reader.load();
        let found = reader.lookup(ip).ok()?;
        let code: Option<&str> = match found.decode_path(ISO_CODE) {
            Ok(Some(code)) => Some(code),
            _ => found.decode_path(COUNTRY_CODE).ok().flatten(),
        };
        code.and_then(Country::parse)
    }

    /// Loads the file again if it changed since the last try: `Some(Ok)` when a new version
    /// serves, `Some(Err)` when it did not load (the previous one keeps serving), `None` when
    /// nothing changed or the file is gone (the loaded one keeps serving).
    pub fn reload_if_changed(&self) -> Option<Result<(), GeoError>> {
        let now = Stamp::of(&self.path)?;
        {
            let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if *seen == Some(now) {
                return None;
            }
            *seen = Some(now);
        }
        Some(load(&self.path).map(|reader| self.reader.store(Arc::new(reader))))
    }
}

fn load(path: &Path) -> Result<Reader<Vec<u8>>, GeoError> {
    let bytes = std::fs::read(path).map_err(|source| GeoError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |source| GeoError::Invalid {
        path: path.to_path_buf(),
        source,
    };
    let reader = Reader::from_source(bytes).map_err(invalid)?;
    reader.verify().map_err(invalid)?;
    Ok(reader)
}

/// Checks the file every [`CHECK_INTERVAL`] and reloads it when it changed, off the async workers.
pub async fn watch(db: Arc<Database>, metrics: Arc<Metrics>) {
    let mut ticks = tokio::time::interval(CHECK_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let db = Arc::clone(&db);
        let Ok(outcome) = tokio::task::spawn_blocking(move || db.reload_if_changed()).await else {
            continue;
        };
        let result = match outcome {
            None => continue,
            Some(Ok(())) => {
                tracing::info!("geo.mmdb_path database reloaded");
                "ok"
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "geo.mmdb_path database did not reload; the previous one keeps serving");
                "failed"
            }
        };
        metrics.geo_reloads.get_or_create(&ResultLabel { result }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/geo")
            .join(name)
    }

    fn code(db: &Database, ip: &str) -> Option<String> {
        db.country(ip.parse().unwrap()).map(|c| c.as_str().to_string())
    }

    #[test]
    fn a_geoip2_country_database_gives_iso_codes_for_both_families() {
        let db = Database::open(fixture("country-v1.mmdb")).unwrap();
        assert_eq!(code(&db, "8.8.8.8").as_deref(), Some("US"));
        assert_eq!(code(&db, "2001:4860:4860::8888").as_deref(), Some("US"));
        assert_eq!(code(&db, "85.214.132.117").as_deref(), Some("DE"));
        assert_eq!(code(&db, "2a01:238:20a:202::1").as_deref(), Some("DE"));
        assert_eq!(code(&db, "1.1.1.1"), None, "not in the database");
    }

    #[test]
    fn an_ip_location_db_database_gives_country_codes_and_ipv6_is_unknown_in_an_ipv4_tree() {
        let db = Database::open(fixture("country-code-v4.mmdb")).unwrap();
        assert_eq!(code(&db, "8.8.8.8").as_deref(), Some("US"));
        assert_eq!(code(&db, "85.214.1.1").as_deref(), Some("DE"));
        assert_eq!(code(&db, "2a01:238::1"), None);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_naming_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.mmdb");
        std::fs::write(&path, b"not a database").unwrap();
        let err = Database::open(path).unwrap_err().to_string();
        assert!(
            err.starts_with("geo.mmdb_path") && err.contains("not a valid MaxMind DB"),
            "{err}"
        );
        let err = Database::open(dir.path().join("missing.mmdb")).unwrap_err().to_string();
        assert!(err.contains("cannot read"), "{err}");
    }

    #[test]
    fn a_truncated_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.mmdb");
        let bytes = std::fs::read(fixture("country-v1.mmdb")).unwrap();
        for cut in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 20] {
            let mut damaged = bytes[..cut].to_vec();
            damaged.extend_from_slice(&bytes[bytes.len() - 400..]);
            std::fs::write(&path, &damaged).unwrap();
            // Refused, or loaded and then never a wrong country for a known address: never a panic.
            if let Ok(db) = Database::open(path.clone()) {
                assert!(matches!(code(&db, "85.214.1.1").as_deref(), None | Some("DE")));
            }
        }
    }

    #[test]
    fn a_changed_file_replaces_the_database_and_a_bad_one_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("geo.mmdb");
        std::fs::copy(fixture("country-v1.mmdb"), &path).unwrap();
        let db = Database::open(path.clone()).unwrap();
        assert!(db.reload_if_changed().is_none(), "unchanged");
        // Replaced as operators do: a new file renamed over the old one.
        let next = dir.path().join("next.mmdb");
        std::fs::copy(fixture("country-v2.mmdb"), &next).unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert!(matches!(db.reload_if_changed(), Some(Ok(()))));
        assert_eq!(code(&db, "8.8.8.8").as_deref(), Some("DE"));
        std::fs::write(&next, b"garbage").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert!(matches!(db.reload_if_changed(), Some(Err(_))));
        assert!(db.reload_if_changed().is_none(), "a bad file is tried once");
        assert_eq!(
            code(&db, "8.8.8.8").as_deref(),
            Some("DE"),
            "the previous database keeps serving"
        );
        std::fs::remove_file(&path).unwrap();
        assert!(db.reload_if_changed().is_none());
        assert_eq!(code(&db, "8.8.8.8").as_deref(), Some("DE"));
    }
}
