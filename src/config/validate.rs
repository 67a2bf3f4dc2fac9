//! Checks a loaded configuration makes sense, naming the key at fault.

use secrecy::ExposeSecret;

use super::{path_is_inside, valid_host, ConfigError, Settings, MIN_TOKEN_LEN};

impl Settings {
    pub(super) fn validate(&mut self) -> Result<(), ConfigError> {
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
        if !(self.experiments.alpha > 0.0 && self.experiments.alpha < 0.5) {
            return Err(ConfigError::Invalid {
                key: "experiments.alpha",
                message: "must be between 0 and 0.5 (0.05 gives 95% intervals)".into(),
            });
        }
        if self.counts.flush_seconds == 0 {
            return Err(ConfigError::Invalid {
                key: "counts.flush_seconds",
                message: "must be at least 1".into(),
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
        for list in [&mut self.consent.sources, &mut self.consent.policy_versions] {
            list.iter_mut().for_each(|v| *v = v.trim().to_string());
            list.retain(|v| !v.is_empty());
        }
        closed_set("consent.sources", &self.consent.sources)?;
        closed_set("consent.policy_versions", &self.consent.policy_versions)?;
        // A signed note's origin line: printable, no spaces, and it names the key too (C2SP).
        let origin = &self.consent.log_origin;
        if origin.is_empty() || origin.len() > 128 || !origin.bytes().all(|b| b.is_ascii_graphic() && b != b'+') {
            return Err(ConfigError::Invalid {
                key: "consent.log_origin",
                message: "must be 1-128 printable characters without spaces or '+', e.g. bank.example/consent-log"
                    .into(),
            });
        }
        for (key, v) in [
            ("consent.checkpoint_seconds", self.consent.checkpoint_seconds),
            ("consent.checkpoint_entries", self.consent.checkpoint_entries),
            ("consent.write_batch", self.consent.write_batch as u64),
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    message: "must be at least 1".into(),
                });
            }
        }
        if self.server.body_timeout_seconds == 0 {
            return Err(ConfigError::Invalid {
                key: "server.body_timeout_seconds",
                message: "must be at least 1".into(),
            });
        }
        self.validate_serving()?;
        Ok(())
    }
}

impl Settings {
    /// What `serve` would otherwise refuse only at startup: the admin token, the listen addresses and
    /// where the consent log key may live.
    fn validate_serving(&self) -> Result<(), ConfigError> {
        let master = self.auth.admin_token.expose_secret();
        if !master.is_empty() && master.chars().count() < MIN_TOKEN_LEN {
            // The value is never echoed.
            return Err(ConfigError::Invalid {
                key: "auth.admin_token (or PERSONIFY_ADMIN_TOKEN)",
                message: format!(
                    "must be at least {MIN_TOKEN_LEN} characters; generate one with `openssl rand -base64 32`"
                ),
            });
        }
        if !valid_host(&self.server.host) {
            return Err(ConfigError::Invalid {
                key: "server.host",
                message: format!("{:?} is not an IP address or host name", self.server.host),
            });
        }
        if let Some(metrics) = &self.server.metrics_addr {
            if metrics.port != 0 && metrics.port == self.server.port && metrics.host == self.server.host {
                return Err(ConfigError::Invalid {
                    key: "server.metrics_addr",
                    message: "must differ from server.host:server.port (the main listener)".into(),
                });
            }
        }
        if self.store.ca_file.is_some() && self.store.url.kind() != super::StoreKind::Postgres {
            return Err(ConfigError::Invalid {
                key: "store.ca_file",
                message: "applies to postgres:// URLs only (SQLite is a local file)".into(),
            });
        }
        // The environment's key takes the file's place; otherwise the file must be named and lie
        // outside the store's directory it protects.
        if self.consent.log_key_seed.is_none() {
            let key = &self.consent.log_key_file;
            if key.as_os_str().is_empty() {
                return Err(ConfigError::Invalid {
                    key: "consent.log_key_file",
                    message: "must name a file (or set PERSONIFY_CONSENT_LOG_KEY)".into(),
                });
            }
            if let Some(data) = self.store.url.local_dir().filter(|d| path_is_inside(key, d)) {
                return Err(ConfigError::Invalid {
                    key: "consent.log_key_file",
                    message: format!(
                        "{} lies inside the data directory {} (store.url); keep it outside (see docs/decisions/002-consent-ledger.md)",
                        key.display(),
                        data.display()
                    ),
                });
            }
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
