//! Checks a loaded configuration makes sense, naming the key at fault.

use super::{ConfigError, Settings};

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
