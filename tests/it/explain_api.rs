//! `POST /v1/admin/explain`: the CLI's explanation as JSON, from the same pipeline, behind the
//! analyst scope, never counted.

use std::process::Command;

use serde_json::{json, Value};

use crate::helpers::closed_day::{day_cell, ClosedDay};
use crate::helpers::*;

/// `personify explain --json` with the test rules and the default configuration.
fn cli_explain(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_personify"))
        .args([
            "--config",
            manifest_dir().join("config").to_str().unwrap(),
            "explain",
            "--json",
            "--rules",
            example_rules().to_str().unwrap(),
        ])
        .args(args)
        .output()
        .expect("personify runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("explain prints JSON")
}

async fn explain(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/admin/explain"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

/// The local hour and weekday come from the clock at each call: everything else must be equal.
fn without_clock(mut v: Value) -> Value {
    if let Some(signals) = v["signals"].as_object_mut() {
        signals.remove("time.hour");
        signals.remove("time.weekday");
    }
    v
}

#[tokio::test]
async fn the_route_answers_what_the_cli_prints_for_the_same_page_view() {
    let app = spawn_app().await;
    let cases: [(Value, Vec<&str>); 3] = [
        (
            json!({"url": "https://bank.example/business/loans?utm_source=linkedin",
                "referrer": "https://www.linkedin.com/feed/", "user_agent": IPHONE_UA,
                "accept_language": "de-DE,de;q=0.9", "country": "de"}),
            vec![
                "--url",
                "https://bank.example/business/loans?utm_source=linkedin",
                "--referrer",
                "https://www.linkedin.com/feed/",
                "--user-agent",
                IPHONE_UA,
                "--accept-language",
                "de-DE,de;q=0.9",
                "--country",
                "de",
            ],
        ),
        (
            json!({"url": "https://bank.example/savings", "country": "FR", "consent": "default"}),
            vec![
                "--url",
                "https://bank.example/savings",
                "--country",
                "FR",
                "--consent",
                "default",
            ],
        ),
        (
            json!({"url": "https://bank.example/bereavement-support", "pages_viewed": 3,
                "session_categories": ["support"], "returning": true, "tz_offset_minutes": 60}),
            vec![
                "--url",
                "https://bank.example/bereavement-support",
                "--pages-viewed",
                "3",
                "--session-category",
                "support",
                "--returning",
                "--tz-offset",
                "60",
            ],
        ),
    ];
    for (body, args) in cases {
        let res = explain(&app, ADMIN_TOKEN, &body).await;
        assert_eq!(res.status(), 200);
        let served: Value = res.json().await.unwrap();
        let printed = cli_explain(&args);
        assert_eq!(without_clock(served), without_clock(printed), "for {body}");
    }
}

#[tokio::test]
async fn an_experiment_slot_is_explained_with_the_experiment_and_the_rules_version() {
    let app = spawn_app().await;
    let body = json!({"url": "https://bank.example/mortgages/fixed-rate", "visitor_id": vid("explain")});
    let v: Value = explain(&app, ADMIN_TOKEN, &body).await.json().await.unwrap();
    assert_eq!(v["segments"][0]["id"], "mortgage_intent");
    let because = v["decisions"]["hero"]["because"].as_str().unwrap();
    assert!(because.contains("runs experiment mortgage_hero_2026q4"), "{because}");
    assert_eq!(v["rules_version"], app.rules_version.as_str());
    assert_eq!(v["consent"]["basis"], "record");
}

#[tokio::test]
async fn explain_needs_the_analyst_scope_and_names_bad_fields() {
    const ANALYST: &str = "analyst-token-for-explain-0123456789abcdef";
    const RTB: &str = "rtb-token-for-explain-0123456789abcdef-xyz";
    let app = spawn_app_with(|s| {
        s.auth.tokens = vec![scoped_token(ANALYST, "analyst"), scoped_token(RTB, "rtb")];
    })
    .await;
    let body = json!({"url": "https://bank.example/savings"});
    assert_eq!(explain(&app, ANALYST, &body).await.status(), 200);
    assert_eq!(explain(&app, RTB, &body).await.status(), 403);
    let anonymous = app.post("/v1/admin/explain", &body).await;
    assert_eq!(anonymous.status(), 401);

    let res = explain(&app, ANALYST, &json!({"url": "mailto:someone@example.com"})).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["field"], "page.url");
    assert!(!err.to_string().contains("someone"), "{err}");
    let res = explain(
        &app,
        ANALYST,
        &json!({"url": "https://bank.example/", "consent": "maybe"}),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["field"], "consent");
}

#[tokio::test]
async fn explained_page_views_are_never_counted() {
    let Some(mut day) = ClosedDay::start(&[("PERSONIFY__PRIVACY__K", "1")]) else {
        return;
    };
    let body = json!({"url": "https://bank.example/savings/isa", "visitor_id": vid("never-counted")});
    for _ in 0..3 {
        assert_eq!(explain(&day.app, ADMIN_TOKEN, &body).await.status(), 200);
    }
    // The same page view once through /v1/decide is counted: the report would have shown an explain.
    let decide = json!({"page": {"url": "https://bank.example/savings/isa"}, "visitor_id": vid("never-counted")});
    assert_eq!(day.app.decide(&decide, Some("US")).await.status(), 200);
    day.next_morning();
    let report = day.day_report().await;
    assert_eq!(day_cell(&report, "savers")["views"], 1, "{report}");
}
