//! Google Consent Mode v2 on the page-view routes: each "denied" withholds its purpose, "granted"
//! never grants, gtag's other keys are accepted or warned about, a value gtag never holds is refused.

use serde_json::{json, Value};

use crate::helpers::*;

const MORTGAGES: &str = "https://bank.example/mortgages/fixed-rate";

fn body(mode: Value) -> Value {
    json!({"page": {"url": MORTGAGES}, "visitor_id": vid("consent-mode"), "consent": {"google_consent_mode": mode}})
}

fn purposes(v: &Value) -> (bool, bool, bool) {
    let c = &v["consent"];
    (
        c["personalize"].as_bool().unwrap(),
        c["measure"].as_bool().unwrap(),
        c["advertise"].as_bool().unwrap(),
    )
}

#[tokio::test]
async fn each_denied_type_withholds_its_purpose_on_decide() {
    let app = spawn_app().await;
    for (mode, expected) in [
        (json!({"ad_user_data": "denied"}), (true, true, false)),
        (json!({"ad_personalization": "denied"}), (true, true, false)),
        (json!({"analytics_storage": "denied"}), (true, false, true)),
        (json!({"personalization_storage": "denied"}), (false, true, true)),
        (
            json!({"ad_storage": "denied", "functionality_storage": "denied", "security_storage": "granted"}),
            (true, true, true),
        ),
    ] {
        let v = app.decide_ok(&body(mode.clone())).await;
        assert_eq!(purposes(&v), expected, "{mode}");
        assert_eq!(v["warnings"], json!([]), "{mode}");
        let basis = if expected == (true, true, true) {
            "jurisdiction_opt_out"
        } else {
            "google_consent_mode"
        };
        assert_eq!(v["consent"]["basis"], basis, "{mode}");
        if !expected.0 {
            assert_eq!(v["segments"], json!([]), "{mode}");
            assert_eq!(variant(&v, "sidebar"), "generic_help", "{mode}");
        }
    }
}

#[tokio::test]
async fn granted_never_grants_in_an_opt_in_country() {
    let app = spawn_app().await;
    let granted = json!({"ad_storage": "granted", "ad_user_data": "granted", "ad_personalization": "granted",
        "analytics_storage": "granted", "personalization_storage": "granted"});
    let res = app.decide(&body(granted), Some("DE")).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(purposes(&v), (false, false, false));
    assert_eq!(v["consent"]["basis"], "jurisdiction_opt_in");
}

#[tokio::test]
async fn a_recorded_choice_keeps_its_basis_and_still_loses_what_consent_mode_denies() {
    let app = spawn_app().await;
    app.consent(
        &vid("consent-mode"),
        json!({"personalize": true, "measure": true, "advertise": true}),
    )
    .await;
    let res = app
        .decide(&body(json!({"analytics_storage": "denied"})), Some("DE"))
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(purposes(&v), (true, false, true));
    assert_eq!(v["consent"]["basis"], "record");
}

#[tokio::test]
async fn unknown_keys_are_warnings_and_other_states_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let v = app
        .decide_ok(&body(
            json!({"personalization_storage": "denied", "wait_for_update": 500, "region": ["jane@example.com"]}),
        ))
        .await;
    assert_eq!(v["consent"]["personalize"], false);
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("unknown_field"), "{warnings}");
    assert!(!warnings.contains("jane"), "{warnings}");

    let res = app.decide(&body(json!({"ad_user_data": "Denied"})), Some("US")).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["field"], "consent.google_consent_mode.ad_user_data");
}

#[tokio::test]
async fn a_conversion_under_analytics_storage_denied_is_not_counted() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/v1/events"))
        .header("CF-IPCountry", "US")
        .header("User-Agent", DESKTOP_UA)
        .json(
            &json!({"type": "conversion", "goal": "mortgage_application", "page": {"url": MORTGAGES},
            "consent": {"google_consent_mode": {"analytics_storage": "denied"}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(res.json::<Value>().await.unwrap()["counted"], false);
}
