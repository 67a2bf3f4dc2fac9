//! Request logging and request metrics, which record the route pattern, method, status and latency — never the client
//! address, User-Agent, query string, path parameters or body (docs/architecture.md, invariant 1).

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::Method;
use actix_web::web;

use crate::http::edge::Edge;
use crate::http::error::ApiError;

/// A matched route's place in the route table and its pattern (`/v1/decide`, never the requested
/// path), attached to each resource: the log and metrics read it instead of matching again.
#[derive(Debug, Clone, Copy)]
pub struct RouteTag {
    /// Position in the route table (the metrics' route index).
    pub index: usize,
    /// The route's pattern.
    pub pattern: &'static str,
}

/// Middleware: one `info` line and one metrics observation per request. Hand-written rather than
/// `from_fn`, which boxes every request's future: this one wraps the route's future in place.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLog;

impl<S, B> Transform<S, ServiceRequest> for RequestLog
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = RequestLogService<S>;
    type InitError = ();
    type Future = Ready<Result<RequestLogService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestLogService { service }))
    }
}

/// [`RequestLog`] around the application's service.
pub struct RequestLogService<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for RequestLogService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = Logged<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        Logged {
            started: Instant::now(),
            method: req.method().clone(),
            inner: self.service.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer, logged and measured when it is ready.
    pub struct Logged<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: Method,
    }
}

impl<F, B> Future for Logged<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx))?;
        record(&res, *this.started, this.method);
        Poll::Ready(Ok(res))
    }
}

/// Logs and measures one answered request.
fn record<B>(res: &ServiceResponse<B>, started: Instant, method: &Method) {
    // The matched route (`/v1/decide`), not the requested path, which could carry anything.
    let route = res.request().app_data::<RouteTag>().copied();
    let pattern = route.map_or("<unmatched>", |r| r.pattern);
    let status = res.status().as_u16();
    if let Some(state) = res.request().app_data::<web::Data<Edge>>() {
        let m = &state.metrics;
        let index = route.map_or_else(|| m.route_index(None), |r| r.index);
        m.record_request(index, status, started.elapsed());
        if status == 429 {
            m.rate_limited.inc();
        }
        // Only a store failure answers 503 through `ApiError`; readiness builds its own 503.
        if status == 503
            && res
                .response()
                .error()
                .and_then(|e| e.as_error::<ApiError>())
                .is_some_and(|e| matches!(e, ApiError::StoreUnavailable))
        {
            m.store_error("request");
        }
    }
    tracing::info!(
        target: "personify::http",
        method = %method,
        route = %pattern,
        status,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
}
