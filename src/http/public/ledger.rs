//! The consent log's public face: its public key, its newest signed checkpoint, a receipt's
//! inclusion proof and the consistency proof between two tree sizes. Public on purpose: anyone
//! holding a receipt or an old checkpoint can check personify without trusting it.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::http::error::ApiError;
use crate::http::LogState;

/// Receipt ids are 48 lowercase hex characters (32 for receipts issued before the ids began with
/// the leaf index, see `ReceiptId`); anything else cannot name an entry.
fn receipt_id(raw: &str) -> Result<&str, ApiError> {
    if matches!(raw.len(), 32 | 48) && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(raw)
    } else {
        Err(ApiError::InvalidParam {
            param: "id".into(),
            message: "a receipt id is 48 (or, issued before 2026-11-23, 32) lowercase hex characters".into(),
        })
    }
}

fn size_param(name: &str, raw: Option<&str>) -> Result<Option<u64>, ApiError> {
    raw.map(|v| {
        v.parse::<u64>().map_err(|_| ApiError::InvalidParam {
            param: name.into(),
            message: format!("{name} must be a non-negative integer"),
        })
    })
    .transpose()
}

#[derive(Debug, Deserialize)]
struct ProofQuery {
    tree_size: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ConsistencyQuery {
    first: Option<String>,
    second: Option<String>,
}

fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|_| ApiError::InvalidParam {
            param: "query".into(),
            message: "query string could not be parsed".into(),
        })
}

/// `GET /v1/consent/log/public-key`: the verifier key (`name+id+base64`), as text.
pub async fn public_key(state: web::Data<LogState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{}\n", state.ledger.vkey()))
}

/// `GET /v1/consent/log/checkpoint`: the newest signed checkpoint (C2SP signed note), as text.
pub async fn checkpoint(state: web::Data<LogState>) -> Result<HttpResponse, ApiError> {
    let cp = state.ledger.latest().await?.ok_or(ApiError::NotCheckpointed {
        retry_after_secs: state.checkpoint_seconds,
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(cp.note))
}

/// `GET /v1/consent/receipts/{id}/proof?tree_size=N`
pub async fn proof(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<LogState>,
) -> Result<HttpResponse, ApiError> {
    let id = receipt_id(&path)?;
    let q: ProofQuery = query(&req)?;
    let size = size_param("tree_size", q.tree_size.as_deref())?;
    match state.ledger.inclusion(id, size).await {
        Ok(p) => Ok(HttpResponse::Ok().json(p)),
        Err(crate::engine::ledger::node::ProofError::NotCheckpointed) => Err(ApiError::NotCheckpointed {
            retry_after_secs: state.checkpoint_seconds,
        }),
        Err(e) => Err(e.into()),
    }
}

/// `GET /v1/consent/log/consistency?first=M&second=N`
pub async fn consistency(req: HttpRequest, state: web::Data<LogState>) -> Result<HttpResponse, ApiError> {
    let q: ConsistencyQuery = query(&req)?;
    let missing = |name: &str| ApiError::InvalidParam {
        param: name.into(),
        message: format!("{name} is required: a tree size"),
    };
    let first = size_param("first", q.first.as_deref())?.ok_or_else(|| missing("first"))?;
    let second = size_param("second", q.second.as_deref())?.ok_or_else(|| missing("second"))?;
    Ok(HttpResponse::Ok().json(state.ledger.consistency(first, second).await?))
}
