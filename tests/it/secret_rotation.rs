//! Rotating the visitor-key secret keeps every consent record and opt-out enforceable
//! (`docs/decisions/003-secret-rotation.md`).

use personify::store;
use serde_json::{json, Value};

use crate::helpers::*;

async fn basis(app: &TestApp, visitor: &str, country: &str) -> Value {
    let v: Value = app
        .decide(
            &json!({"page": {"url": "https://bank.example/mortgages"}, "visitor_id": visitor}),
            Some(country),
        )
        .await
        .json()
        .await
        .unwrap();
    v["consent"].clone()
}

#[tokio::test]
async fn after_a_rotation_old_opt_outs_and_consents_still_hold_and_new_choices_win() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/personify.db", data.path().display());
    let (out, yes) = (vid("rotated-out"), vid("rotated-yes"));
    {
        let before = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
        before.post("/v1/opt-out", &json!({"visitor_id": out})).await;
        before
            .consent(&yes, json!({"personalize": true, "measure": true, "advertise": true}))
            .await;
    }
    let store = store::open(&url).await.unwrap();
    assert_eq!(personify::engine::secrets::rotate(store.as_ref()).await.unwrap(), 2);

    let app = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
    // The opt-out was keyed under generation 1 and is still honoured in an opt-out country.
    assert_eq!(basis(&app, &out, "US").await["basis"], "opt_out");
    let granted = basis(&app, &yes, "DE").await;
    assert_eq!(
        (granted["basis"].as_str(), granted["advertise"].as_bool()),
        (Some("record"), Some(true))
    );
    let status: Value = app
        .post("/v1/consent/status", &json!({"visitor_id": out}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["opted_out"], true);
    assert_eq!(status["receipts"].as_array().unwrap().len(), 1);

    // A new choice is recorded under generation 2 and wins over the old record.
    app.consent(&out, json!({"personalize": true, "measure": false, "advertise": false}))
        .await;
    let now = basis(&app, &out, "US").await;
    assert_eq!(
        (now["basis"].as_str(), now["personalize"].as_bool()),
        (Some("record"), Some(true))
    );

    // Erasure reaches the old generation's entries too.
    let e: Value = app
        .post("/v1/consent/erase", &json!({"visitor_id": yes}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(e["erased_entries"], 1, "{e}");
    assert_eq!(basis(&app, &yes, "DE").await["basis"], "jurisdiction_opt_in");
    let v: Value = app.admin_get("/v1/admin/consent/verify").await.json().await.unwrap();
    assert_eq!(v["ok"], true, "{v}");
}
