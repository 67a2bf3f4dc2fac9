//! `GET /v1/admin/whoami`: the scopes of the presented token, so a client (the console) can show
//! what the token may do without trying every route. Never the token, its hash or its name.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::config::Scope;
use crate::http::edge::Edge;
use crate::http::error::ApiError;

/// `GET /v1/admin/whoami`'s answer.
#[derive(Serialize)]
struct Whoami {
    scopes: Vec<&'static str>,
}

/// `GET /v1/admin/whoami`: `{"scopes": [...]}`; an admin token lists every scope, since it holds them.
/// Behind the any-token guard (see [`crate::http::routes`]).
pub async fn whoami(req: HttpRequest, state: web::Data<Edge>) -> Result<HttpResponse, ApiError> {
    let held = state.tokens.scopes_of(&req)?;
    let scopes = Scope::ALL
        .iter()
        .filter(|s| held.contains(&Scope::Admin) || held.contains(s))
        .map(|s| s.as_str())
        .collect();
    Ok(HttpResponse::Ok().json(Whoami { scopes }))
}
