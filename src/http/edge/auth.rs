//! Bearer tokens with scopes, stored by SHA-256 and compared in constant time.

use actix_web::http::header;
use actix_web::HttpRequest;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AuthSettings;
use crate::http::error::ApiError;

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

/// Shortest admin token accepted: anything shorter could be guessed online.
pub const MIN_TOKEN_LEN: usize = 32;

/// Invalid `[auth]` configuration.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {key}: {message}")]
pub struct AuthConfigError {
    key: String,
    message: String,
}

/// The configured tokens.
pub struct Tokens {
    /// Hash, scopes and configured name (`admin` for the master token) of each token.
    entries: Vec<([u8; 32], Vec<Scope>, String)>,
}

impl Tokens {
    /// Reads `[auth]`: the master token (all scopes) and the scoped tokens.
    pub fn new(settings: &AuthSettings) -> Result<Tokens, AuthConfigError> {
        let mut entries = Vec::new();
        let master = settings.admin_token.expose_secret();
        if !master.is_empty() && master.chars().count() < MIN_TOKEN_LEN {
            return Err(AuthConfigError {
                key: "auth.admin_token (or PERSONIFY_ADMIN_TOKEN)".into(),
                message: format!(
                    "must be at least {MIN_TOKEN_LEN} characters; generate one with `openssl rand -base64 32`"
                ),
            });
        }
        if !master.is_empty() {
            entries.push((
                Sha256::digest(master.as_bytes()).into(),
                vec![Scope::Admin],
                "admin".to_string(),
            ));
        }
        for (index, t) in settings.tokens.iter().enumerate() {
            let hash: [u8; 32] = hex::decode(t.sha256.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| AuthConfigError {
                    key: format!("auth.tokens[{index}]"),
                    message: "sha256 must be 64 hex characters".into(),
                })?;
            let scopes = t
                .scopes
                .iter()
                .map(|s| {
                    s.parse::<Scope>().map_err(|_| AuthConfigError {
                        key: format!("auth.tokens[{index}]"),
                        message: format!(
                            "unknown scope {s:?} ({})",
                            Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            entries.push((hash, scopes, t.name.clone()));
        }
        Ok(Tokens { entries })
    }

    /// The scopes of the request's bearer token; an error when there is no valid one.
    pub fn scopes_of(&self, req: &HttpRequest) -> Result<&[Scope], ApiError> {
        if self.entries.is_empty() {
            return Err(ApiError::Unauthorized(
                "no admin token is configured: set PERSONIFY_ADMIN_TOKEN (or auth.admin_token), or list scoped tokens under [[auth.tokens]] by their SHA-256".into(),
            ));
        }
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("send the token as `Authorization: Bearer <token>`".into()))?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Every configured hash is compared, matched or not, so timing says nothing about which.
        let mut scopes: Option<&[Scope]> = None;
        for (hash, s, _) in &self.entries {
            if bool::from(hash.ct_eq(&digest)) {
                scopes = Some(s);
            }
        }
        scopes.ok_or_else(|| ApiError::Unauthorized("the token is not valid".into()))
    }

    /// Admits a request whose bearer token has `Admin` or one of `any_of`.
    pub fn require(&self, req: &HttpRequest, any_of: &[Scope]) -> Result<(), ApiError> {
        let scopes = self.scopes_of(req)?;
        if scopes.contains(&Scope::Admin) || any_of.iter().any(|s| scopes.contains(s)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                format!("this token lacks the scope this route needs ({any_of:?} or Admin)").to_lowercase(),
            ))
        }
    }
}

impl Tokens {
    /// The configured name of the valid token a request presents, for the audit trail.
    pub fn holder(&self, req: &HttpRequest) -> Option<&str> {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut name = None;
        for (hash, _, n) in &self.entries {
            if bool::from(hash.ct_eq(&digest)) {
                name = Some(n.as_str());
            }
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_round_trip_and_admin_comes_first() {
        assert_eq!(Scope::ALL.first(), Some(&Scope::Admin));
        let names: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["admin", "compliance", "analyst", "rtb", "ops"]);
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>().ok(), Some(*s));
        }
        assert!(
            "Admin".parse::<Scope>().is_err(),
            "names are case-sensitive in configuration"
        );
    }

    #[test]
    fn a_short_master_token_is_refused_and_its_value_never_printed() {
        let settings = AuthSettings {
            admin_token: "admin123".into(),
            tokens: Vec::new(),
        };
        let err = Tokens::new(&settings).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("at least 32"), "{err}");
        assert!(!format!("{settings:?}").contains("admin123"));
        assert!(!err.contains("admin123"));
    }
}
