//! `GET /v1/admin/rules` and `POST /v1/admin/rules/reload`, for the `ops` scope: which rule set this
//! node serves, and a reload that answers 422 with the diagnostics when the set is invalid.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::domain::rules::load::JsonDiagnostic;
use crate::domain::rules::RuleFile;
use crate::engine::reload::Reloader;
use crate::engine::reload::{RulesStatus, Trigger};
use crate::http::edge::Edge;
use crate::http::error::ApiError;

/// What `GET /v1/admin/rules` answers.
#[derive(Serialize)]
struct RulesView<'a> {
    version: &'a str,
    /// ISO 8601, UTC.
    loaded_at: String,
    segments: usize,
    slots: usize,
    experiments: usize,
    files: &'a [RuleFile],
    /// Set while the rules directory does not load and this node serves the stored last good set.
    last_good: Option<LastGoodView>,
}

/// Why this node serves the last good set.
#[derive(Serialize)]
struct LastGoodView {
    /// When the set was stored, ISO 8601 UTC.
    saved_at: String,
    /// Errors in the rules directory at its last read (`POST /v1/admin/rules/reload` lists them).
    dir_errors: usize,
}

impl<'a> RulesView<'a> {
    fn of(status: &'a RulesStatus) -> RulesView<'a> {
        let rules = &status.rules;
        RulesView {
            version: &rules.version,
            loaded_at: humantime::format_rfc3339_millis(status.loaded_at).to_string(),
            segments: rules.segments.len(),
            slots: rules.slots.len(),
            experiments: rules.experiments().count(),
            files: &rules.files,
            last_good: status.last_good.as_ref().map(|lg| LastGoodView {
                saved_at: humantime::format_rfc3339_millis(
                    std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(lg.saved_at).unwrap_or(0)),
                )
                .to_string(),
                dir_errors: lg.dir_errors,
            }),
        }
    }
}

/// `GET /v1/admin/rules`
pub async fn show(reloader: web::Data<Reloader>) -> HttpResponse {
    let status = reloader.status();
    HttpResponse::Ok().json(RulesView::of(&status))
}

/// What a successful reload answers.
#[derive(Serialize)]
struct ReloadView<'a> {
    changed: bool,
    warnings: Vec<JsonDiagnostic<'a>>,
    #[serde(flatten)]
    rules: RulesView<'a>,
}

/// `POST /v1/admin/rules/reload`; the audit trail names the token that asked.
pub async fn reload(
    req: HttpRequest,
    reloader: web::Data<Reloader>,
    edge: web::Data<Edge>,
) -> Result<HttpResponse, ApiError> {
    // The route's guard has admitted a valid token, so a name is always found.
    let actor = edge.tokens.holder(&req).unwrap_or("unknown");
    let done = reloader
        .reload(Trigger::Api, actor)
        .await
        .map_err(ApiError::InvalidRules)?;
    let status = reloader.status();
    Ok(HttpResponse::Ok().json(ReloadView {
        changed: done.changed,
        warnings: done.warnings.iter().map(JsonDiagnostic::from).collect(),
        rules: RulesView::of(&status),
    }))
}
