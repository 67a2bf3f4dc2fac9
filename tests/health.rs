//! Liveness, readiness and the served OpenAPI document.

mod common;

use common::*;

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

#[tokio::test]
async fn openapi_is_served_and_describes_every_route() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/openapi.yaml")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.starts_with("openapi: 3."));
    for route in [
        "/v1/decide:",
        "/v1/consent:",
        "/v1/consent/purposes:",
        "/v1/consent/status:",
        "/v1/opt-out:",
        "/v1/admin/consent/log:",
        "/v1/admin/consent/verify:",
        "/healthz:",
        "/readyz:",
        "/openapi.yaml:",
    ] {
        assert!(text.contains(&format!("\n  {route}")), "openapi.yaml lacks {route}");
    }
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
