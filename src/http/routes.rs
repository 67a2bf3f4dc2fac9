//! The route table: every route the server answers, its method and who may call it, in one list.
//! `configure` registers exactly this list, the OpenAPI test compares it with `openapi.yaml`, the
//! canary sweep sends hostile input to every entry, and `docs/architecture.md` mirrors it.

use actix_web::web;

use crate::config::Scope;
use crate::http::edge::cors::BrowserOrigins;
use crate::http::edge::gate::{Access, Gate};
use crate::http::edge::limits::LimitedRoute;
use crate::http::edge::logging::RouteTag;
use crate::http::error::ApiError;
use crate::http::{
    admin::audit, admin::compliance, admin::consent_log, admin::explain, admin::preview, admin::reports, admin::rules,
    admin::whoami, browser::consent, browser::decide, browser::events, browser::sdk, ofrep, public::console,
    public::health, public::ledger, public::metrics, rtb,
};

/// An HTTP method a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "UPPERCASE")]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One entry of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    /// Method.
    pub method: Method,
    /// Path as registered (`{id}` for a path parameter).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

const fn r(method: Method, path: &'static str, access: Access) -> RouteInfo {
    RouteInfo { method, path, access }
}

/// Every route, in the order they are registered (actix tries them in this order).
pub const ROUTES: &[RouteInfo] = &[
    r(Method::Get, "/healthz", Access::Public),
    r(Method::Get, "/readyz", Access::Public),
    r(Method::Get, "/openapi.yaml", Access::Public),
    r(Method::Get, "/metrics", Access::Token(Scope::Ops)),
    r(Method::Get, "/sdk/personify.js", Access::Public),
    r(Method::Get, "/sdk/personify.mjs", Access::Public),
    r(Method::Post, "/v1/decide", Access::Browser(None)),
    r(Method::Post, "/v1/events", Access::Browser(Some(LimitedRoute::Events))),
    r(
        Method::Post,
        "/v1/consent",
        Access::Browser(Some(LimitedRoute::Consent)),
    ),
    r(Method::Get, "/v1/consent/purposes", Access::Browser(None)),
    r(
        Method::Post,
        "/v1/consent/status",
        Access::Browser(Some(LimitedRoute::ConsentStatus)),
    ),
    r(Method::Post, "/v1/opt-out", Access::Browser(Some(LimitedRoute::OptOut))),
    // Erasure shares the opt-out budget: both are a visitor acting on their own records.
    r(
        Method::Post,
        "/v1/consent/erase",
        Access::Browser(Some(LimitedRoute::OptOut)),
    ),
    r(Method::Get, "/v1/consent/log/public-key", Access::Public),
    r(Method::Get, "/v1/consent/log/checkpoint", Access::Public),
    r(Method::Get, "/v1/consent/log/consistency", Access::Public),
    r(Method::Post, "/ofrep/v1/evaluate/flags", Access::Browser(None)),
    r(Method::Post, "/v1/rtb/segments", Access::Token(Scope::Rtb)),
    r(Method::Post, "/v1/rtb/segments:batch", Access::Token(Scope::Rtb)),
    r(Method::Get, "/v1/admin/consent/log", Access::Token(Scope::Compliance)),
    r(
        Method::Get,
        "/v1/admin/consent/verify",
        Access::Token(Scope::Compliance),
    ),
    r(Method::Get, "/v1/admin/compliance", Access::Token(Scope::Compliance)),
    r(Method::Get, "/v1/admin/whoami", Access::AnyToken),
    r(Method::Get, "/v1/admin/reports/segments", Access::Token(Scope::Analyst)),
    r(
        Method::Get,
        "/v1/admin/reports/experiments",
        Access::Token(Scope::Analyst),
    ),
    r(
        Method::Get,
        "/v1/admin/reports/experiments/{id}",
        Access::Token(Scope::Analyst),
    ),
    r(Method::Post, "/v1/admin/explain", Access::Token(Scope::Analyst)),
    r(Method::Post, "/v1/admin/preview", Access::Token(Scope::Analyst)),
    r(Method::Get, "/v1/admin/audit", Access::Token(Scope::Compliance)),
    r(Method::Get, "/v1/admin/rules", Access::Token(Scope::Ops)),
    r(Method::Post, "/v1/admin/rules/reload", Access::Token(Scope::Ops)),
    // Paths with a parameter are matched by a regular expression: they come last, so the hot
    // routes above are matched before any of them is tried.
    r(Method::Get, "/v1/consent/receipts/{id}/proof", Access::Public),
    r(Method::Post, "/ofrep/v1/evaluate/flags/{key}", Access::Browser(None)),
    r(Method::Get, "/console/", Access::Public),
    r(Method::Get, "/console/{asset}", Access::Public),
];

/// Every route pattern, in table order (the metrics' `route` label values).
pub fn patterns() -> Vec<&'static str> {
    ROUTES.iter().map(|r| r.path).collect()
}

/// The handler of a table entry. A path the table lists but this match forgets is a compile-time
/// omission caught by the unit test below, never a silent 404.
fn handler(info: &RouteInfo) -> Option<actix_web::Route> {
    let get = web::get;
    let post = web::post;
    Some(match info.path {
        "/healthz" => get().to(health::healthz),
        "/readyz" => get().to(health::readyz),
        "/openapi.yaml" => get().to(health::openapi),
        "/metrics" => get().to(metrics::scrape),
        "/sdk/personify.js" => get().to(sdk::classic),
        "/sdk/personify.mjs" => get().to(sdk::module),
        "/console/" => get().to(console::index),
        "/console/{asset}" => get().to(console::asset),
        "/v1/decide" => post().to(decide::handle),
        "/v1/events" => post().to(events::handle),
        "/v1/consent" => post().to(consent::give),
        "/v1/consent/purposes" => get().to(consent::purposes),
        "/v1/consent/status" => post().to(consent::status),
        "/v1/opt-out" => post().to(consent::opt_out),
        "/v1/consent/erase" => post().to(consent::erase),
        "/v1/consent/log/public-key" => get().to(ledger::public_key),
        "/v1/consent/log/checkpoint" => get().to(ledger::checkpoint),
        "/v1/consent/log/consistency" => get().to(ledger::consistency),
        "/v1/consent/receipts/{id}/proof" => get().to(ledger::proof),
        "/ofrep/v1/evaluate/flags" => post().to(ofrep::evaluate_all),
        "/ofrep/v1/evaluate/flags/{key}" => post().to(ofrep::evaluate_one),
        "/v1/rtb/segments" => post().to(rtb::segments),
        "/v1/rtb/segments:batch" => post().to(rtb::batch),
        "/v1/admin/consent/log" => get().to(consent_log::log),
        "/v1/admin/consent/verify" => get().to(consent_log::verify),
        "/v1/admin/compliance" => get().to(compliance::record),
        "/v1/admin/whoami" => get().to(whoami::whoami),
        "/v1/admin/reports/segments" => get().to(reports::segments),
        "/v1/admin/reports/experiments" => get().to(reports::experiments),
        "/v1/admin/reports/experiments/{id}" => get().to(reports::experiment),
        "/v1/admin/explain" => post().to(explain::explain),
        "/v1/admin/preview" => post().to(preview::mint),
        "/v1/admin/audit" => get().to(audit::log),
        "/v1/admin/rules" => get().to(rules::show),
        "/v1/admin/rules/reload" => post().to(rules::reload),
        _ => return None,
    })
}

/// Whether pages on other origins call this route (CORS for `cors.allowed_origins`): the browser
/// routes, the SDK, and the RTB route Prebid's provider calls from a page. Never an admin route.
pub fn answers_pages(info: &RouteInfo) -> bool {
    matches!(info.access, Access::Browser(_)) || info.path.starts_with("/sdk/") || info.path == "/v1/rtb/segments"
}

/// Registers every route of the table with its handler, behind the guard its access needs (and CORS
/// for the routes pages call); other methods on a path get a JSON 405.
pub fn register(cfg: &mut web::ServiceConfig, browser: &BrowserOrigins) {
    for (index, info) in ROUTES.iter().enumerate() {
        let Some(route) = handler(info) else {
            continue;
        };
        let allow = info.method.as_str();
        let resource = web::resource(info.path)
            .app_data(RouteTag {
                index,
                pattern: info.path,
            })
            .route(route)
            .default_service(web::to(move || async move {
                Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed { allow })
            }));
        // CORS is the outermost layer: it answers preflights and adds its headers to every answer,
        // the guard's refusals included.
        let page = answers_pages(info);
        match info.access {
            // The single RTB route takes pages too: its `RtbCaller` extractor tells a page from a
            // server with the token, before the body is read.
            Access::Public | Access::Token(Scope::Rtb) if page => cfg.service(resource.wrap(browser.layer())),
            Access::Public => cfg.service(resource),
            // OpenFeature's web provider sends `If-None-Match` and reads `ETag`.
            Access::Browser(_) if info.path.starts_with("/ofrep/") => {
                cfg.service(resource.wrap(Gate(info.access)).wrap(browser.ofrep_layer()))
            }
            Access::Browser(_) => cfg.service(resource.wrap(Gate(info.access)).wrap(browser.layer())),
            Access::AnyToken | Access::Token(_) => cfg.service(resource.wrap(Gate(info.access))),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_route_has_a_handler() {
        for info in ROUTES {
            assert!(
                handler(info).is_some(),
                "{} {} has no handler",
                info.method.as_str(),
                info.path
            );
        }
    }

    #[test]
    fn no_route_is_listed_twice() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(!ROUTES[i + 1..].iter().any(|b| b.path == a.path), "{} twice", a.path);
        }
    }
}
