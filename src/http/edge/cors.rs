//! CORS for the routes a web page calls (`cors.allowed_origins`); admin routes never answer a browser.

use std::future::{ready, Ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_cors::{Cors, CorsMiddleware};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::Method;
use futures_util::future::{Either, LocalBoxFuture, Map};
use futures_util::FutureExt;

use crate::config::CorsSettings;

/// Seconds a browser may reuse a preflight answer: one preflight per origin every ten minutes, not
/// one per page view.
pub const PREFLIGHT_MAX_AGE_SECONDS: usize = 600;

/// The exact origins whose pages may call the browser routes (parsed and normalised at load).
#[derive(Debug, Clone, Default)]
pub struct BrowserOrigins(Arc<[String]>);

impl BrowserOrigins {
    /// The origins of `[cors]`, each already its own serialised origin (a typo such as a path is
    /// refused when the configuration loads, not silently never matched).
    pub fn new(settings: &CorsSettings) -> BrowserOrigins {
        BrowserOrigins(
            settings
                .allowed_origins
                .iter()
                .map(|o| o.as_str().to_string())
                .collect(),
        )
    }

    /// Whether `origin` (an `Origin` header value) is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o == origin)
    }

    /// The middleware for one browser route. Built per worker (actix-cors is not `Send`).
    ///
    /// A request from another origin is not blocked here: it gets no `Access-Control-Allow-Origin`,
    /// so the browser refuses the answer to the page; a disallowed preflight is refused outright.
    pub fn layer(&self) -> PageCors {
        PageCors(self.cors())
    }

    /// actix-cors as [`BrowserOrigins::layer`] configures it.
    fn cors(&self) -> Cors {
        self.0.iter().fold(
            Cors::default()
                .allowed_methods([Method::GET, Method::POST])
                .allowed_headers([header::CONTENT_TYPE])
                .max_age(PREFLIGHT_MAX_AGE_SECONDS),
            |cors, origin| cors.allowed_origin(origin),
        )
    }

    /// The middleware for the OFREP routes: as [`BrowserOrigins::layer`], and OpenFeature's web
    /// provider may send `If-None-Match` and read the bulk answer's `ETag`.
    pub fn ofrep_layer(&self) -> Cors {
        self.0.iter().fold(
            Cors::default()
                .allowed_methods([Method::POST])
                .allowed_headers([header::CONTENT_TYPE, header::IF_NONE_MATCH])
                .expose_headers([header::ETAG])
                .max_age(PREFLIGHT_MAX_AGE_SECONDS),
            |cors, origin| cors.allowed_origin(origin),
        )
    }
}

/// What actix-cors adds to every answer of [`BrowserOrigins::layer`] that has no `Origin`: `Vary`.
const VARY: HeaderValue =
    HeaderValue::from_static("Origin, Access-Control-Request-Method, Access-Control-Request-Headers");

/// The CORS layer of [`BrowserOrigins::layer`]: actix-cors for requests with an `Origin` and for
/// every `OPTIONS`; a request without `Origin` (a frontend server, a same-origin page) goes straight
/// to the route and its answer gets the `Vary` header actix-cors would add, without actix-cors'
/// boxed future and origin checks on every page view. Only for a layer that exposes no headers and
/// takes no credentials: `Vary` is then all actix-cors adds to such an answer.
pub struct PageCors(Cors);

impl<S, B> Transform<S, ServiceRequest> for PageCors
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = PageCorsService<S>;
    type InitError = ();
    type Future = Ready<Result<PageCorsService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let route = Rc::new(service);
        let cors = self.0.new_transform(Shared(Rc::clone(&route))).into_inner();
        ready(cors.map(|cors| PageCorsService { route, cors }))
    }
}

/// One route's service, shared by actix-cors and the path that skips it.
pub struct Shared<S>(Rc<S>);

impl<S: Service<ServiceRequest>> Service<ServiceRequest> for Shared<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&self, req: ServiceRequest) -> Self::Future {
        self.0.call(req)
    }
}

/// [`PageCors`] around one route.
pub struct PageCorsService<S> {
    route: Rc<S>,
    cors: CorsMiddleware<Shared<S>>,
}

type Answer<B> = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

impl<S, B> Service<ServiceRequest> for PageCorsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Either<
        LocalBoxFuture<'static, Answer<B>>,
        Map<S::Future, fn(Result<ServiceResponse<B>, actix_web::Error>) -> Answer<B>>,
    >;

    forward_ready!(route);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        if req.method() == Method::OPTIONS || req.headers().contains_key(header::ORIGIN) {
            return Either::Left(self.cors.call(req));
        }
        Either::Right(self.route.call(req).map(without_origin::<B> as fn(_) -> _))
    }
}

/// An answer to a request without `Origin`, as actix-cors leaves it.
fn without_origin<B>(answer: Result<ServiceResponse<B>, actix_web::Error>) -> Answer<B> {
    match answer {
        Ok(mut res) => {
            add_vary(res.headers_mut());
            Ok(res.map_into_left_body())
        }
        Err(mut err) => {
            err.add_response_mapper(|mut res| {
                add_vary(res.headers_mut());
                res
            });
            Err(err)
        }
    }
}

/// actix-cors' `Vary`: appended to one the route set, else set.
fn add_vary(headers: &mut HeaderMap) {
    let value = match headers.get(header::VARY) {
        Some(set) => {
            let mut joined = set.as_bytes().to_vec();
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(VARY.as_bytes());
            HeaderValue::from_bytes(&joined).unwrap_or(VARY)
        }
        None => VARY,
    };
    headers.insert(header::VARY, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_origins_are_allowed_and_nothing_else() {
        let parsed = ["https://bank.example", "http://127.0.0.1:8081"].map(|o| o.parse().unwrap());
        let o = BrowserOrigins::new(&CorsSettings {
            allowed_origins: parsed.to_vec(),
        });
        assert!(o.allows("https://bank.example"));
        assert!(o.allows("http://127.0.0.1:8081"));
        assert!(!o.allows("https://evil.example"));
        assert!(!o.allows("http://bank.example"));
    }

    /// Every kind of request gets from [`PageCors`] exactly the answer actix-cors alone gives.
    #[actix_web::test]
    async fn the_skip_answers_as_actix_cors_does() {
        use actix_web::{test, web, App, HttpResponse};
        let origins = BrowserOrigins::new(&CorsSettings {
            allowed_origins: vec!["https://bank.example".parse().unwrap()],
        });
        let routes = |cfg: &mut web::ServiceConfig| {
            cfg.route("/plain", web::to(|| async { HttpResponse::Ok().body("ok") }))
                .route(
                    "/varied",
                    web::to(|| async { HttpResponse::Ok().insert_header((header::VARY, "Accept")).body("ok") }),
                );
        };
        let skipping = test::init_service(App::new().wrap(origins.layer()).configure(routes)).await;
        let plain = test::init_service(App::new().wrap(origins.cors()).configure(routes)).await;
        let requests = || {
            let mut all = Vec::new();
            for path in ["/plain", "/varied"] {
                all.push(test::TestRequest::get().uri(path));
                all.push(test::TestRequest::post().uri(path));
                all.push(
                    test::TestRequest::post()
                        .uri(path)
                        .insert_header((header::ORIGIN, "https://bank.example")),
                );
                all.push(
                    test::TestRequest::post()
                        .uri(path)
                        .insert_header((header::ORIGIN, "https://evil.example")),
                );
                all.push(
                    test::TestRequest::default()
                        .method(Method::OPTIONS)
                        .uri(path)
                        .insert_header((header::ORIGIN, "https://bank.example"))
                        .insert_header((header::ACCESS_CONTROL_REQUEST_METHOD, "POST")),
                );
                all.push(test::TestRequest::default().method(Method::OPTIONS).uri(path));
            }
            all
        };
        for (a, b) in requests().into_iter().zip(requests()) {
            let a = test::call_service(&skipping, a.to_request()).await;
            let b = test::call_service(&plain, b.to_request()).await;
            assert_eq!(a.status(), b.status());
            // actix-cors lists allowed methods from a hash set: two instances may order them apart.
            let headers = |h: &HeaderMap| {
                let mut v: Vec<(String, Vec<String>)> = h
                    .iter()
                    .map(|(k, v)| {
                        let mut items: Vec<String> = v.to_str().unwrap().split(", ").map(str::to_string).collect();
                        if k == header::ACCESS_CONTROL_ALLOW_METHODS {
                            items.sort();
                        }
                        (k.to_string(), items)
                    })
                    .collect();
                v.sort();
                v
            };
            assert_eq!(headers(a.headers()), headers(b.headers()));
            assert!(a.headers().contains_key(header::VARY));
        }
    }
}
