//! The audit trail of admin actions: which token (by its configured name) did what and when, for the
//! compliance scope, paged, never holding a request value.

use serde_json::{json, Value};

use crate::helpers::*;

const ANALYST: &str = "analyst-token-for-audit-0123456789abcdef";
const COMPLIANCE: &str = "compliance-token-for-audit-0123456789abcdef";

async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn preview_mints_consent_exports_and_verifications_are_recorded_by_token_name() {
    let app = spawn_app_with(|s| {
        s.auth.tokens = vec![scoped_token(ANALYST, "analyst"), scoped_token(COMPLIANCE, "compliance")];
    })
    .await;
    // The experiment's first analysis period starts when the server first looks at it (at start-up),
    // recorded under the actor `rules`: wait for it, so the admin actions below follow it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let page: Value = get(&app, COMPLIANCE, "/v1/admin/audit").await.json().await.unwrap();
        if page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "experiment_period_started")
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no period start: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let res = app
        .client
        .post(app.url("/v1/admin/preview"))
        .bearer_auth(ANALYST)
        .json(&json!({"segments": ["savers"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(get(&app, ADMIN_TOKEN, "/v1/admin/consent/log").await.status(), 200);
    assert_eq!(get(&app, COMPLIANCE, "/v1/admin/consent/verify").await.status(), 200);
    // A refused mint (unknown segment) is no action.
    let res = app
        .client
        .post(app.url("/v1/admin/preview"))
        .bearer_auth(ANALYST)
        .json(&json!({"segments": ["no_such_segment"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    let res = get(&app, COMPLIANCE, "/v1/admin/audit").await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    let entries = page["entries"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("rules", "experiment_period_started"),
            ("analyst", "preview_minted"),
            ("admin", "consent_exported"),
            ("compliance", "consent_verified")
        ]
    );
    assert!(entries.iter().all(|e| e["recorded_at"].as_i64().unwrap() > 0));
    assert!(page["next_after"].is_null());

    // Paged: one at a time, in order.
    let first: Value = get(&app, COMPLIANCE, "/v1/admin/audit?limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["entries"][0]["action"], "experiment_period_started");
    let after = first["next_after"].as_i64().unwrap();
    let first: Value = get(&app, COMPLIANCE, &format!("/v1/admin/audit?after={after}&limit=1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["entries"][0]["action"], "preview_minted");
    let after = first["next_after"].as_i64().unwrap();
    let second: Value = get(&app, COMPLIANCE, &format!("/v1/admin/audit?after={after}&limit=1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["entries"][0]["action"], "consent_exported");
}

#[tokio::test]
async fn the_trail_is_for_the_compliance_scope_and_checks_its_parameters() {
    let app = spawn_app_with(|s| {
        s.auth.tokens = vec![scoped_token(ANALYST, "analyst"), scoped_token(COMPLIANCE, "compliance")];
    })
    .await;
    assert_eq!(get(&app, ANALYST, "/v1/admin/audit").await.status(), 403);
    assert_eq!(get(&app, COMPLIANCE, "/v1/admin/audit").await.status(), 200);
    let res = get(&app, COMPLIANCE, "/v1/admin/audit?limit=0").await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["field"], "limit");
}
