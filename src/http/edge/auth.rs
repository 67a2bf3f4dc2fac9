//! Bearer tokens with scopes, stored by SHA-256 and compared in constant time.

use actix_web::http::header;
use actix_web::HttpRequest;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::config::{AuthSettings, Scope, TokenHash};
use crate::http::error::ApiError;

/// The configured tokens.
pub struct Tokens {
    /// Hash, scopes and configured name (`admin` for the master token) of each token.
    entries: Vec<(TokenHash, Vec<Scope>, String)>,
}

impl Tokens {
    /// The master token (all scopes) and the scoped tokens of `[auth]`, checked at load.
    pub fn new(settings: &AuthSettings) -> Tokens {
        let master = settings.admin_token.expose_secret();
        let admin = (!master.is_empty()).then(|| (TokenHash::of(master), vec![Scope::Admin], "admin".into()));
        let scoped = settings
            .tokens
            .iter()
            .map(|t| (t.sha256, t.scopes.clone(), t.name.clone()));
        Tokens {
            entries: admin.into_iter().chain(scoped).collect(),
        }
    }

    /// The scopes of the request's bearer token; an error when there is no valid one.
    pub fn scopes_of(&self, req: &HttpRequest) -> Result<&[Scope], ApiError> {
        if self.entries.is_empty() {
            return Err(ApiError::Unauthorized(
                "no admin token is configured: set PERSONIFY_ADMIN_TOKEN (or auth.admin_token), or list scoped tokens under [[auth.tokens]] by their SHA-256".into(),
            ));
        }
        let presented = bearer(req)
            .ok_or_else(|| ApiError::Unauthorized("send the token as `Authorization: Bearer <token>`".into()))?;
        let scopes = self.matching(presented).map(|(_, scopes, _)| scopes.as_slice());
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
        self.matching(bearer(req)?).map(|(_, _, name)| name.as_str())
    }

    /// The entry whose hash is the presented token's. Every configured hash is compared, matched or
    /// not, so timing says nothing about which.
    fn matching(&self, presented: &str) -> Option<&(TokenHash, Vec<Scope>, String)> {
        let digest = TokenHash::of(presented);
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.0.bytes().ct_eq(digest.bytes())) {
                found = Some(entry);
            }
        }
        found
    }
}

/// The bearer token a request presents, if any.
fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MIN_TOKEN_LEN;

    #[test]
    fn the_master_token_has_every_scope_and_a_scoped_token_its_own() {
        let master = "m".repeat(MIN_TOKEN_LEN);
        let settings = AuthSettings {
            admin_token: master.clone().into(),
            tokens: vec![crate::config::TokenSettings {
                name: "analysts".into(),
                sha256: TokenHash::of("analyst-token"),
                scopes: vec![Scope::Analyst],
            }],
        };
        assert!(!format!("{settings:?}").contains(&master));
        let tokens = Tokens::new(&settings);
        let req = |t: &str| {
            actix_web::test::TestRequest::default()
                .insert_header((header::AUTHORIZATION, format!("Bearer {t}")))
                .to_http_request()
        };
        assert_eq!(tokens.scopes_of(&req(&master)).ok(), Some(&[Scope::Admin][..]));
        assert_eq!(tokens.holder(&req("analyst-token")), Some("analysts"));
        assert!(tokens.require(&req("analyst-token"), &[Scope::Analyst]).is_ok());
        assert!(tokens.require(&req("analyst-token"), &[Scope::Ops]).is_err());
        assert!(tokens.scopes_of(&req("wrong")).is_err());
    }
}
