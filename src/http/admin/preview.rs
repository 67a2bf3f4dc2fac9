//! `POST /v1/admin/preview`: mints a preview token for user acceptance testing (see
//! [`crate::domain::pageview::preview`]), and reads the token a page view presents.

use std::collections::BTreeMap;
use std::time::SystemTime;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::domain::pageview::preview::{Grant, Rejected, DEFAULT_LIFETIME_SECS, HEADER};
use crate::engine::audit::Action;
use crate::engine::audit::AuditTrail;
use crate::http::edge::body::ApiJson;
use crate::http::edge::Edge;
use crate::http::error::ApiError;
use crate::http::Pages;

/// The mint request.
#[derive(Debug, Deserialize)]
pub struct MintBody {
    /// Segment ids to force.
    #[serde(default)]
    segments: Vec<String>,
    /// Slot id → variant id to force.
    #[serde(default)]
    variants: BTreeMap<String, String>,
    /// Life of the token (default an hour, at most a day).
    expires_in_seconds: Option<u64>,
}

#[derive(Serialize)]
struct MintResponse<'a> {
    token: String,
    expires_at: u64,
    segments: &'a [String],
    variants: &'a BTreeMap<String, String>,
    url_parameter: &'static str,
    header: &'static str,
}

/// Mints a token. Behind the `analyst` scope guard.
pub async fn mint(
    req: HttpRequest,
    ApiJson(body): ApiJson<MintBody>,
    state: web::Data<Pages>,
    trail: web::Data<AuditTrail>,
    edge: web::Data<Edge>,
) -> Result<HttpResponse, ApiError> {
    let rules = state.rules.load();
    let lifetime = body.expires_in_seconds.unwrap_or(DEFAULT_LIFETIME_SECS);
    let grant = Grant::new(&rules, body.segments, body.variants, lifetime, SystemTime::now()).map_err(|e| {
        ApiError::InvalidField {
            field: e.field,
            message: e.message,
        }
    })?;
    crate::http::admin::audit::record(&trail, &edge, &req, Action::PreviewMinted).await?;
    let token = state.preview.mint(&grant);
    Ok(HttpResponse::Created().json(MintResponse {
        token,
        expires_at: grant.expires_at,
        segments: &grant.segments,
        variants: &grant.variants,
        url_parameter: "personify_preview",
        header: "Personify-Preview",
    }))
}

/// The header as a name made once (a text name is parsed again at each lookup).
const PREVIEW_HEADER: actix_web::http::header::HeaderName = actix_web::http::header::HeaderName::from_static(HEADER);

/// The preview token a page view presents: the `Personify-Preview` header, else the body's
/// `preview` field (the browser SDK copies it from the page's `?personify_preview=`).
pub fn presented<'a>(req: &'a HttpRequest, body: Option<&'a str>) -> Option<&'a str> {
    req.headers()
        .get(PREVIEW_HEADER)
        .and_then(|v| v.to_str().ok())
        .or(body)
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The grant of the presented token, if it is valid; otherwise why it was ignored.
pub fn grant(state: &Pages, token: Option<&str>, now: SystemTime) -> Result<Option<Grant>, Rejected> {
    token.map(|t| state.preview.verify(t, now)).transpose()
}
