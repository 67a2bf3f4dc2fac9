//! The visitor's country from their address, in memory only: the operator's MaxMind-format database
//! (`geo.mmdb_path`), then the registries' table compiled into the binary (`geo.builtin`), else
//! unknown. The address is looked up and dropped; nothing here stores, logs or counts it.
//!
//! Which requests are looked up at all (browsers only, never a server holding a token) and the
//! trusted country header that comes first are the edge's business (`http/edge/client.rs`).

pub mod database;

use std::net::IpAddr;
use std::sync::Arc;

use crate::config::GeoSettings;
use crate::domain::signals::geo::is_locatable;
use crate::domain::signals::{Country, CountrySource, Located};
use crate::metrics::Metrics;
use database::Database;
pub use database::GeoError;

/// The configured address-to-country sources.
#[derive(Debug, Default)]
pub struct Locator {
    /// `geo.mmdb_path`, loaded.
    database: Option<Arc<Database>>,
    /// `geo.builtin`.
    builtin: bool,
}

impl Locator {
    /// Loads the configured sources; a configured database that does not load is an error (the
    /// operator asked for it, and silently serving every visitor as unknown would hide that).
    pub fn open(settings: &GeoSettings) -> Result<Locator, GeoError> {
        let database = match &settings.mmdb_path {
            Some(path) => Some(Arc::new(Database::open(path.clone())?)),
            None => None,
        };
        Ok(Locator {
            database,
            builtin: settings.builtin,
        })
    }

    /// Whether any source is configured; with none, nothing is ever looked up.
    pub fn is_on(&self) -> bool {
        self.database.is_some() || self.builtin
    }

    /// The country of `ip`, from the first source that knows it. Non-public addresses are unknown,
    /// whatever a source says about them.
    pub fn locate(&self, ip: IpAddr) -> Option<Located> {
        if !self.is_on() || !is_locatable(ip) {
            return None;
        }
        let ip = ip.to_canonical();
        if let Some(country) = self.database.as_ref().and_then(|db| db.country(ip)) {
            return Some(Located {
                country,
                source: CountrySource::Database,
            });
        }
        if self.builtin {
            return iptocc::country_code(ip)
                .and_then(Country::parse)
                .map(|country| Located {
                    country,
                    source: CountrySource::Builtin,
                });
        }
        None
    }

    /// Starts the task that reloads the database when its file changes (nothing without one).
    pub fn spawn_reloader(&self, metrics: Arc<Metrics>) {
        if let Some(db) = &self.database {
            tokio::spawn(database::watch(Arc::clone(db), metrics));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> Locator {
        Locator {
            database: None,
            builtin: true,
        }
    }

    fn country(l: &Locator, ip: &str) -> Option<String> {
        l.locate(ip.parse().unwrap()).map(|l| l.country.as_str().to_string())
    }

    #[test]
    fn the_builtin_table_knows_registered_blocks_in_both_families() {
        let l = builtin();
        // Blocks registered long ago and never moved: Google's (ARIN), APNIC's research block (JP).
        assert_eq!(country(&l, "8.8.8.8").as_deref(), Some("US"));
        assert_eq!(country(&l, "2001:4860:4860::8888").as_deref(), Some("US"));
        assert_eq!(country(&l, "1.0.16.1").as_deref(), Some("JP"));
        assert_eq!(
            l.locate("8.8.8.8".parse().unwrap()).map(|l| l.source),
            Some(CountrySource::Builtin)
        );
    }

    #[test]
    fn private_addresses_are_unknown_even_to_the_builtin_table() {
        let l = builtin();
        for ip in ["10.1.2.3", "100.64.1.1", "127.0.0.1", "::1", "fd00::1", "192.168.0.1"] {
            assert_eq!(country(&l, ip), None, "{ip}");
        }
    }

    #[test]
    fn with_no_source_nothing_is_located() {
        let l = Locator::default();
        assert!(!l.is_on());
        assert_eq!(country(&l, "8.8.8.8"), None);
    }
}
