//! The gate in front of every route that is not public: the check its [`Access`] names (Origin and
//! rate limit for browser routes, a bearer token and its scope for the others), answered before the
//! body is read, so a refused request writes and counts nothing.
//!
//! A hand-written middleware rather than `actix_web::middleware::from_fn`: `from_fn` boxes the
//! inner service and every request's future, a cost paid on each page view for a check that is
//! synchronous. Here a passed request goes straight to the route's service, and the answer's
//! future is the inner one, unboxed (docs/architecture.md, "Routes and scopes").

use std::future::{ready, Ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{web, ResponseError};
use futures_util::future::{Either, MapOk, TryFutureExt};

use crate::config::Scope;
use crate::http::edge::limits::LimitedRoute;
use crate::http::edge::{origin, Edge};
use crate::http::error::ApiError;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, from anywhere (health, the spec, the purpose catalogue).
    Public,
    /// Browsers and frontend servers: no token; behind the gate (Origin check, then this
    /// route's rate limit, if any).
    Browser(Option<LimitedRoute>),
    /// A bearer token with this scope (or `admin`).
    Token(Scope),
    /// A valid bearer token, whatever its scopes (it learns what they are).
    AnyToken,
}

/// Middleware factory: wraps one resource with the check its access requires.
#[derive(Debug, Clone, Copy)]
pub struct Gate(pub Access);

impl Gate {
    /// Admits or refuses one request; nothing here awaits.
    fn check(self, req: &ServiceRequest) -> Result<(), ApiError> {
        let Some(state) = req.app_data::<web::Data<Edge>>() else {
            // Only the metrics-only listener runs without the state, and it has no gated route.
            return Err(ApiError::Unauthorized("no token configuration".into()));
        };
        match self.0 {
            Access::Public => Ok(()),
            Access::Browser(limit) => origin::check(limit, req, state),
            Access::AnyToken => state.tokens.scopes_of(req.request()).map(|_| ()),
            Access::Token(scope) => state.tokens.require(req.request(), &[scope]),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Gate
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = GateService<S>;
    type InitError = ();
    type Future = Ready<Result<GateService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GateService { service, gate: *self }))
    }
}

/// The gate around one resource's service.
pub struct GateService<S> {
    service: S,
    gate: Gate,
}

/// An admitted answer's body, marked as the route's own (the refusal is the other side).
type Admitted<B> = fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>;

impl<S, B> Service<ServiceRequest> for GateService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Either<MapOk<S::Future, Admitted<B>>, Ready<Result<Self::Response, Self::Error>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        match self.gate.check(&req) {
            Ok(()) => Either::Left(
                self.service
                    .call(req)
                    .map_ok(ServiceResponse::map_into_left_body as Admitted<B>),
            ),
            Err(refused) => {
                let res = refused.error_response();
                Either::Right(ready(Ok(req.into_response(res).map_into_right_body())))
            }
        }
    }
}
