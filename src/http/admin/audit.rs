//! `GET /v1/admin/audit`: the audit trail of admin actions, paged, for the compliance scope; and the
//! one call handlers make to add to it.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::engine::audit::Action;
use crate::engine::audit::AuditTrail;
use crate::http::edge::Edge;
use crate::http::error::ApiError;

/// Largest page of audit entries.
pub const MAX_PAGE: i64 = 1000;

/// Records `action` by the token this request presents, before the action's answer goes out; a
/// store that cannot take it refuses the action (503).
pub async fn record(trail: &AuditTrail, edge: &Edge, req: &HttpRequest, action: Action) -> Result<(), ApiError> {
    // The route's guard has admitted a valid token, so a name is always found.
    let actor = edge.tokens.holder(req).unwrap_or("unknown");
    Ok(trail.record(actor, action).await?)
}

#[derive(Debug, Deserialize)]
struct Page {
    after: Option<String>,
    limit: Option<String>,
}

#[derive(Serialize)]
struct AuditPage<E> {
    entries: Vec<E>,
    next_after: Option<i64>,
}

fn int_param(name: &str, raw: Option<&str>, default: i64, max: i64, min: i64) -> Result<i64, ApiError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(ApiError::InvalidParam {
            param: name.into(),
            message: format!("{name} must be an integer between {min} and {max}"),
        }),
    }
}

/// `GET /v1/admin/audit?after=SEQ&limit=N`. Behind the `compliance` scope guard.
pub async fn log(req: HttpRequest, trail: web::Data<AuditTrail>) -> Result<HttpResponse, ApiError> {
    let q = web::Query::<Page>::from_query(req.query_string()).map_err(|_| ApiError::InvalidParam {
        param: "query".into(),
        message: "query string could not be parsed".into(),
    })?;
    let after = int_param("after", q.after.as_deref(), 0, i64::MAX, 0)?;
    let limit = int_param("limit", q.limit.as_deref(), 100, MAX_PAGE, 1)?;
    let entries = trail.page(after, limit).await?;
    let next_after = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(HttpResponse::Ok().json(AuditPage { entries, next_after }))
}
