//! Liveness, readiness and the served OpenAPI document.

use std::collections::BTreeSet;

use personify::http::routes::{Method, ROUTES};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["status"], "ok");
    let v: serde_json::Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["rules_version"], app.rules_version);
    assert_eq!(v["segments"], 9);
}

/// The paths and methods `openapi.yaml` describes, read from its `paths:` section.
fn spec_routes(spec: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut path: Option<String> = None;
    let mut in_paths = false;
    for line in spec.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_paths = line == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) {
            path = Some(p.trim_end_matches(':').trim_matches('"').trim_matches('\'').to_string());
        } else if let (Some(p), Some(m)) = (&path, line.strip_prefix("    ").filter(|l| !l.starts_with(' '))) {
            let m = m.trim_end_matches(':');
            if ["get", "post", "put", "patch", "delete"].contains(&m) {
                out.insert((m.to_uppercase(), p.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn openapi_describes_exactly_the_registered_routes() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/openapi.yaml")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.starts_with("openapi: 3."));
    let spec = spec_routes(&text);
    let registered: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_string(), r.path.to_string()))
        .collect();
    let undocumented: Vec<_> = registered.difference(&spec).collect();
    let unregistered: Vec<_> = spec.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "registered but not in openapi.yaml: {undocumented:?}"
    );
    assert!(
        unregistered.is_empty(),
        "in openapi.yaml but not registered: {unregistered:?}"
    );
    // And the server really answers each of them (not a 404 from the default service).
    for r in ROUTES {
        let url = app.url(
            &r.path
                .replace("{id}", "mortgage_hero_2026q4")
                .replace("{asset}", "app.js"),
        );
        let req = match r.method {
            Method::Get => app.client.get(url),
            Method::Post => app
                .client
                .post(url)
                .header("Content-Type", "application/json")
                .body("{}"),
        };
        let res = req.send().await.unwrap();
        // A route may answer 404 about its resource (no checkpoint yet), never the router's own.
        if res.status() == 404 {
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            assert_ne!(
                body["error"]["code"],
                "not_found",
                "{} {} answers the router's 404",
                r.method.as_str(),
                r.path
            );
        }
    }
}

#[test]
fn the_spec_reader_sees_a_missing_route() {
    let spec = "openapi: 3.0.3\npaths:\n  /healthz:\n    get:\n      x: 1\n  /v1/decide:\n    post:\n      x: 1\ncomponents:\n  schemas:\n    A:\n      get: 1\n";
    let routes = spec_routes(spec);
    assert_eq!(
        routes,
        BTreeSet::from([
            ("GET".to_string(), "/healthz".to_string()),
            ("POST".to_string(), "/v1/decide".to_string())
        ])
    );
}

#[tokio::test]
async fn openapi_names_the_main_schemas() {
    let app = spawn_app().await;
    let text = app
        .client
        .get(app.url("/openapi.yaml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for schema in [
        "DecideRequest:",
        "DecideResponse:",
        "Error:",
        "Warning:",
        "Consent:",
        "Receipt:",
        "LogEntry:",
    ] {
        assert!(
            text.contains(&format!("\n    {schema}")),
            "openapi.yaml lacks schema {schema}"
        );
    }
}

#[tokio::test]
async fn the_page_url_pattern_in_the_spec_admits_every_url_the_server_accepts() {
    let app = spawn_app().await;
    let spec = app
        .client
        .get(app.url("/openapi.yaml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Every page.url in the spec (decide's and events'), each must admit what the server accepts.
    let patterns: Vec<regex::Regex> = spec
        .lines()
        .filter_map(|l| l.split("pattern: \"^[Hh][Tt][Tt][Pp]").nth(1))
        .map(|rest| {
            let quoted = rest.rsplit_once('"').map(|(p, _)| p).expect("a closing quote");
            let quoted = format!("^[Hh][Tt][Tt][Pp]{quoted}");
            regex::Regex::new(&quoted.replace("\\\\", "\\")).expect("the pattern compiles")
        })
        .collect();
    assert_eq!(patterns.len(), 2, "decide's and events' page.url");
    for url in [
        "https://bank.example/mortgages",
        "https://my-bank.example/savings?utm_source=x",
        "http://192.0.2.10:8080/",
        "https://xn--bcher-kva.example/",
        "https://bücher.example/",
        "https://bank.example:10443/students/",
        "HTTPS://BANK.EXAMPLE",
        "http://[2001:db8::1]:8080/offers",
    ] {
        let res = app.decide(&json!({"page": {"url": url}}), Some("US")).await;
        assert_eq!(res.status(), 200, "the server refuses {url}");
        for pattern in &patterns {
            assert!(
                pattern.is_match(url),
                "the spec's pattern {pattern} refuses {url}, which the server accepts"
            );
        }
    }
}
