//! What a browser on another origin sees: CORS only on the browser routes, only for configured
//! origins, and the SDK served with validators. (The same behaviour in a real browser: tests/browser/.)

use std::collections::HashMap;
use std::path::Path;

use personify::config::Settings;
use reqwest::header;

use crate::helpers::{spawn_app_with, TestApp};

const SITE: &str = "https://bank.example";

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.cors.allowed_origins = vec![
            SITE.parse().expect("origin"),
            "http://127.0.0.1:8081".parse().expect("origin"),
        ]
    })
    .await
}

async fn preflight(app: &TestApp, method: &str, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .send()
        .await
        .expect("preflight sent")
}

fn allow_origin(r: &reqwest::Response) -> Option<&str> {
    r.headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn preflight_from_an_allowed_origin_is_answered_and_cached_on_every_browser_route() {
    let app = app().await;
    for (method, path) in [
        ("POST", "/v1/decide"),
        ("POST", "/v1/events"),
        ("POST", "/v1/consent"),
        ("POST", "/v1/consent/status"),
        ("GET", "/v1/consent/purposes"),
        ("POST", "/v1/opt-out"),
        ("POST", "/v1/rtb/segments"),
        ("GET", "/sdk/personify.js"),
    ] {
        let r = preflight(&app, method, path, SITE).await;
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(allow_origin(&r), Some(SITE), "{path}");
        assert_eq!(
            r.headers()
                .get(header::ACCESS_CONTROL_MAX_AGE)
                .and_then(|v| v.to_str().ok()),
            Some("600"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_origin_not_configured_gets_no_cors_grant() {
    let app = app().await;
    let r = preflight(&app, "POST", "/v1/decide", "https://evil.example").await;
    assert!(!r.status().is_success());
    assert_eq!(allow_origin(&r), None);
    // A simple request (text/plain, as the SDK sends) is answered, but without the header the browser
    // keeps the answer from the page.
    let r = app
        .client
        .post(app.url("/v1/decide"))
        .header(header::ORIGIN, "https://evil.example")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(r#"{"page":{"url":"https://bank.example/"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(allow_origin(&r), None);
    let r = app
        .client
        .post(app.url("/v1/decide"))
        .header(header::ORIGIN, SITE)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(r#"{"page":{"url":"https://bank.example/"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(allow_origin(&r), Some(SITE));
}

#[tokio::test]
async fn admin_routes_never_answer_a_browser() {
    let app = app().await;
    for (method, path) in [
        ("GET", "/v1/admin/consent/log"),
        ("GET", "/v1/admin/reports/segments"),
        ("POST", "/v1/rtb/segments:batch"),
    ] {
        let r = preflight(&app, method, path, SITE).await;
        assert_eq!(allow_origin(&r), None, "{path}");
        let r = app
            .client
            .get(app.url(path))
            .header(header::ORIGIN, SITE)
            .bearer_auth(crate::helpers::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(allow_origin(&r), None, "{path}");
    }
}

#[tokio::test]
async fn no_origin_is_allowed_by_default() {
    let app = spawn_app_with(|_| {}).await;
    let r = preflight(&app, "POST", "/v1/decide", SITE).await;
    assert_eq!(allow_origin(&r), None);
}

#[tokio::test]
async fn the_sdk_is_served_as_javascript_with_a_content_etag_and_revalidates() {
    let app = app().await;
    for (path, file) in [
        ("/sdk/personify.js", "sdk/dist/personify.js"),
        ("/sdk/personify.mjs", "sdk/dist/personify.mjs"),
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let h = r.headers().clone();
        assert_eq!(h[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(h[header::CACHE_CONTROL], "public, max-age=300");
        let etag = h[header::ETAG].to_str().unwrap().to_string();
        let body = r.bytes().await.unwrap();
        let on_disk = std::fs::read(crate::helpers::manifest_dir().join(file)).unwrap();
        assert_eq!(body.as_ref(), on_disk.as_slice(), "{path} serves the committed build");
        use sha2::Digest;
        assert_eq!(etag, format!("\"{}\"", hex::encode(sha2::Sha256::digest(&on_disk))));
        let again = app
            .client
            .get(app.url(path))
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        assert!(again.bytes().await.unwrap().is_empty());
    }
}

#[test]
fn allowed_origins_come_from_the_environment_as_a_comma_separated_list() {
    let env: HashMap<String, String> = [(
        "PERSONIFY__CORS__ALLOWED_ORIGINS".to_string(),
        "https://a.example,https://b.example".to_string(),
    )]
    .into();
    let s = Settings::load_with_env(
        Path::new("config"),
        config::Environment::with_prefix("PERSONIFY").source(Some(env)),
    )
    .unwrap();
    let origins: Vec<&str> = s.cors.allowed_origins.iter().map(|o| o.as_str()).collect();
    assert_eq!(origins, ["https://a.example", "https://b.example"]);
}

#[test]
fn the_readme_names_the_sri_hash_of_the_served_sdk() {
    use base64::Engine;
    use sha2::Digest;
    let sdk = std::fs::read(crate::helpers::manifest_dir().join("sdk/dist/personify.js")).unwrap();
    let sri = format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(&sdk))
    );
    let readme = std::fs::read_to_string(crate::helpers::manifest_dir().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("integrity=\"{sri}\"")),
        "README's script tag must carry {sri}"
    );
}

#[tokio::test]
async fn gpc_seen_by_the_page_denies_advertising_like_the_header() {
    let app = app().await;
    let body = serde_json::json!({"page": {"url": "https://bank.example/mortgages"}, "consent": {"gpc": true}});
    let v: serde_json::Value = app.decide(&body, Some("US")).await.json().await.unwrap();
    assert_eq!(v["consent"]["advertise"], false, "{v}");
    assert_eq!(v["consent"]["personalize"], true, "{v}");
    let body = serde_json::json!({"page": {"url": "https://bank.example/mortgages"}, "consent": {"gpc": false}});
    let v: serde_json::Value = app.decide(&body, Some("US")).await.json().await.unwrap();
    assert_eq!(v["consent"]["advertise"], true, "{v}");
}

fn bid(country_alpha3: &str) -> serde_json::Value {
    serde_json::json!({
        "site": {"page": "https://bank.example/mortgages"},
        "device": {"ua": crate::helpers::DESKTOP_UA, "geo": {"country": country_alpha3}}
    })
}

async fn rtb_from_page(
    app: &TestApp,
    origin: &str,
    country: Option<&str>,
    body: &serde_json::Value,
) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .header(header::ORIGIN, origin)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(body.to_string());
    if let Some(c) = country {
        r = r.header("CF-IPCountry", c);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn a_page_on_an_allowed_origin_calls_rtb_without_a_token_others_need_one() {
    let app = app().await;
    let r = rtb_from_page(&app, SITE, Some("US"), &bid("USA")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(allow_origin(&r), Some(SITE));
    let r = rtb_from_page(&app, "https://evil.example", Some("US"), &bid("USA")).await;
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .json(&bid("USA"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no origin, no token");
}

#[tokio::test]
async fn a_page_cannot_choose_its_jurisdiction_the_trusted_header_does() {
    let app = app().await;
    let v: serde_json::Value = rtb_from_page(&app, SITE, Some("DE"), &bid("USA"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["personify"]["consent"]["basis"], "jurisdiction_opt_in", "{v}");
    let v: serde_json::Value = rtb_from_page(&app, SITE, None, &bid("USA")).await.json().await.unwrap();
    assert_eq!(
        v["personify"]["consent"]["basis"], "jurisdiction_opt_in",
        "no header = unknown: {v}"
    );
    let v: serde_json::Value = rtb_from_page(&app, SITE, Some("US"), &bid("DEU"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["personify"]["consent"]["basis"], "jurisdiction_opt_out", "{v}");
    // A server-to-server caller with the token still states the country in the bid request.
    let v: serde_json::Value = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .json(&bid("USA"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["personify"]["consent"]["basis"], "jurisdiction_opt_out", "{v}");
}

#[tokio::test]
async fn token_less_page_calls_are_rate_limited_per_client() {
    let app = spawn_app_with(|s| {
        s.cors.allowed_origins = vec![SITE.parse().expect("origin")];
        s.limits.enabled = true;
        s.limits.rtb_page = personify::config::RouteLimit {
            per_minute: std::num::NonZeroU32::new(60).expect("positive"),
            burst: std::num::NonZeroU32::new(3).expect("positive"),
        };
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(
            rtb_from_page(&app, SITE, Some("US"), &bid("USA"))
                .await
                .status()
                .as_u16(),
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(statuses[0], 200);
    // The token is never limited this way.
    let r = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .json(&bid("USA"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
