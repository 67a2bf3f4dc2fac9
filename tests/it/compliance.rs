//! `GET /v1/admin/compliance`: the record of processing, generated from what is running.

use serde_json::{json, Value};

use crate::helpers::*;

const DPO_TOKEN: &str = "compliance-team-token-0123456789abcdefgh";
const ANALYST_TOKEN: &str = "analyst-team-token-0123456789abcdefghij";

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.auth.tokens = vec![
            scoped_token(DPO_TOKEN, "compliance"),
            scoped_token(ANALYST_TOKEN, "analyst"),
        ];
        s.controller.name = "Example Bank plc".into();
        s.controller.dpo_contact = "dpo@bank.example".into();
    })
    .await
}

async fn record(app: &TestApp, token: &str) -> (u16, Value) {
    let res = app
        .client
        .get(app.url("/v1/admin/compliance"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_record_describes_purposes_segments_storage_and_consent_from_what_runs() {
    let app = app().await;
    app.consent(&vid("compliance-a"), json!({"personalize": true})).await;
    let res = app
        .post("/v1/opt-out", &json!({"visitor_id": vid("compliance-b")}))
        .await;
    assert!(res.status().is_success());

    let (status, v) = record(&app, DPO_TOKEN).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["controller"]["name"], "Example Bank plc");
    assert_eq!(v["rules_version"], app.rules_version);
    assert_eq!(v["store"], "sqlite");
    assert_eq!(v["release"]["k"], 50);
    let purposes: Vec<&str> = v["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(purposes, ["personalize", "measure", "advertise"]);

    let segments = v["segments"].as_array().unwrap();
    let bereavement = segments
        .iter()
        .find(|s| s["sensitive"].is_string())
        .expect("a sensitive segment");
    assert_eq!(
        bereavement["audience_taxonomy"],
        json!([]),
        "sensitive segments are never released to RTB"
    );
    let advertised = &v["purposes"][2]["segments"];
    assert!(!advertised.as_array().unwrap().contains(&bereavement["id"]));
    let mortgage = segments.iter().find(|s| s["id"] == "mortgage_intent").unwrap();
    assert!(
        mortgage["signals"].as_array().unwrap().contains(&json!("page.path")),
        "{mortgage}"
    );
    assert!(mortgage["defined_at"].as_str().unwrap().contains(".toml:"));

    let tables: Vec<&str> = v["data_inventory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    for t in [
        "sketches",
        "counters",
        "consent_leaves",
        "consent_subjects",
        "consent_records",
        "daily_salts",
        "secrets",
    ] {
        assert!(tables.contains(&t), "{t} missing from {tables:?}");
    }
    let c = &v["consent"];
    assert_eq!(
        (&c["log_entries"], &c["current_records"], &c["opt_outs"]),
        (&json!(2), &json!(2), &json!(1))
    );
    assert!(
        c["public_key"]
            .as_str()
            .unwrap()
            .starts_with("personify.local/consent-log+"),
        "{c}"
    );
    assert!(v["salts"]["held"].as_u64().unwrap() >= 1);
    assert!(v["salts"]["oldest_age_hours"].as_i64().unwrap() <= 48);
}

#[tokio::test]
async fn the_record_needs_the_compliance_scope() {
    let app = app().await;
    assert_eq!(record(&app, ANALYST_TOKEN).await.0, 403);
    assert_eq!(record(&app, "no-such-token-0123456789abcdefghijklmn").await.0, 401);
    assert_eq!(record(&app, ADMIN_TOKEN).await.0, 200);
}
