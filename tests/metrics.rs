//! `GET /metrics`: operational metrics for the `ops` scope, with labels from closed sets only.

mod common;

use common::*;
use serde_json::json;

const OPS_TOKEN: &str = "ops-token-for-the-metrics-scraper-0123456789";
const ANALYST_TOKEN: &str = "analyst-token-for-the-reports-page-0123456789";

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.auth.tokens = vec![scoped_token(OPS_TOKEN, "ops"), scoped_token(ANALYST_TOKEN, "analyst")];
    })
    .await
}

async fn scrape(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_for_the_ops_scope() {
    let app = app().await;
    for _ in 0..3 {
        app.decide_ok(&page(
            "https://bank.example/mortgages/fixed-rate?utm_source=zq-canary-7",
        ))
        .await;
    }
    let bad = app
        .post("/v1/decide", &json!({"page": {"url": "ftp://zq-canary-8.example/"}}))
        .await;
    assert_eq!(bad.status(), 400);
    let res = scrape(&app, OPS_TOKEN).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    assert!(
        text.contains(r#"personify_http_requests_total{route="/v1/decide",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"personify_http_requests_total{route="/v1/decide",status="400"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"personify_http_request_duration_seconds_count{route="/v1/decide"} 4"#),
        "{text}"
    );
    assert!(
        text.contains(&format!(r#"personify_rules_info{{version="{}"}} 1"#, app.rules_version)),
        "{text}"
    );
    assert!(text.contains("personify_rtb_release_set_segments 0"), "{text}");
    assert!(text.ends_with("# EOF\n"));
    assert!(!text.contains("zq-canary"), "a request value reached a label");
    assert!(
        !text.contains("mortgage_intent"),
        "per-segment counts must stay in the k-anonymous reports"
    );
}

#[tokio::test]
async fn metrics_need_the_ops_scope() {
    let app = app().await;
    assert_eq!(scrape(&app, ANALYST_TOKEN).await.status(), 403);
    assert_eq!(scrape(&app, "not-a-token-at-all-0123456789abcdef").await.status(), 401);
    assert_eq!(scrape(&app, ADMIN_TOKEN).await.status(), 200, "admin holds every scope");
    let none = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(none.status(), 401);
}

#[tokio::test]
async fn consent_writes_are_counted_by_action() {
    let app = app().await;
    app.consent(&vid("metrics-consent"), json!({"personalize": true})).await;
    let res = app
        .post("/v1/opt-out", &json!({"visitor_id": vid("metrics-opt-out")}))
        .await;
    assert!(res.status().is_success());
    let text = scrape(&app, OPS_TOKEN).await.text().await.unwrap();
    assert!(
        text.contains(r#"personify_consent_writes_total{action="consent"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"personify_consent_writes_total{action="opt_out"} 1"#),
        "{text}"
    );
}
