//! Replays real bid requests from public ad-tech test suites (see tests/fixtures/openrtb/SOURCES.md)
//! against the real server: every one gets 200, never a 5xx, and a segment is released only with
//! `advertise` consent for a segment above k.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::helpers::machine::wait_for_flush;
use crate::helpers::*;

const RTB_TOKEN: &str = "rtb-corpus-token-4e1d-long-enough-0001";

fn corpus() -> Vec<(String, Value)> {
    let root = manifest_dir().join("tests/fixtures/openrtb");
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files.into_iter().filter(|f| f.extension().is_some_and(|e| e == "json")) {
            let name = f.strip_prefix(&root).unwrap().display().to_string();
            let body: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            out.push((name, body));
        }
    }
    out
}

/// A server with k = 3 whose release set holds mortgage_intent (5 visitors) but not students.
async fn app() -> TestApp {
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(RTB_TOKEN.as_bytes()));
    let app = spawn_app_with(|s| {
        s.privacy.k = 3;
        // The seed visitors come from distinct networks, as k requires.
        s.server.client_ip_header = Some(personify::config::HeaderName::from_static("x-forwarded-for"));
        s.counts.flush_seconds = 1;
        s.counts.release_refresh_seconds = 1;
        s.auth.tokens = vec![personify::config::TokenSettings {
            name: "ssp".into(),
            sha256: sha.parse().expect("token hash"),
            scopes: vec!["rtb".parse().expect("scope")],
        }];
    })
    .await;
    for i in 0..5 {
        let body = json!({"page": {"url": "https://bank.example/mortgages/fixed-rate"},
                          "visitor_id": format!("corpus-seed-visitor-{i:02}-0123456789ab")});
        let addr = format!("198.51.{i}.7");
        let res = app.decide_with(&body, Some("US"), &[("X-Forwarded-For", &addr)]).await;
        assert_eq!(res.status(), 200);
    }
    wait_for_flush().await;
    app
}

async fn post(app: &TestApp, body: &Value) -> (u16, Value) {
    let res = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .bearer_auth(RTB_TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Released segments only with advertise consent; a withheld answer says why.
fn check_release(name: &str, v: &Value) {
    let p = &v["personify"];
    let released = p["released"].as_array().unwrap();
    if !released.is_empty() {
        assert_eq!(
            p["consent"]["advertise"], true,
            "{name}: released without advertise consent: {v}"
        );
        assert!(v["user"].is_object() || v["site"].is_object(), "{name}: {v}");
    } else {
        assert!(v.get("user").is_none() && v.get("site").is_none(), "{name}: {v}");
        assert!(
            !p["withheld"].as_array().unwrap().is_empty(),
            "{name}: nothing released and no reason: {v}"
        );
    }
    if p["consent"]["advertise"] == false {
        assert_eq!(
            p["withheld"].as_array().unwrap().len(),
            1,
            "{name}: one reason without advertise: {v}"
        );
        assert!(p["withheld"][0].get("segment").is_none(), "{name}: {v}");
    }
}

#[tokio::test]
async fn every_real_bid_request_gets_200_and_releases_only_with_consent_above_k() {
    let corpus = corpus();
    let sources: std::collections::BTreeSet<&str> = corpus.iter().map(|(n, _)| n.split('/').next().unwrap()).collect();
    assert!(corpus.len() >= 40, "{} bid requests", corpus.len());
    assert!(sources.len() >= 2, "{sources:?}");
    let app = app().await;
    let mut released_somewhere = 0;
    for (name, body) in &corpus {
        // As published.
        let (status, v) = post(&app, body).await;
        assert_eq!(status, 200, "{name}: {v}");
        check_release(name, &v);
        assert!(v.get("id").is_none(), "{name}: nothing of the request is echoed");

        // The same request on a page the release set holds: released exactly when advertise applies.
        let mut on_bank = body.clone();
        if on_bank.get("site").is_some_and(Value::is_object) {
            on_bank["site"]["page"] = json!("https://bank.example/mortgages/fixed-rate");
        } else {
            on_bank["site"] = json!({"page": "bank.example/mortgages/fixed-rate"});
        }
        let (status, v) = post(&app, &on_bank).await;
        assert_eq!(status, 200, "{name} on bank.example: {v}");
        check_release(name, &v);
        let advertise = v["personify"]["consent"]["advertise"] == true;
        let released = v["personify"]["released"] == json!(["mortgage_intent"]);
        assert_eq!(advertise, released, "{name} on bank.example: {v}");
        released_somewhere += usize::from(released);
    }
    // The corpus mixes consent situations: some release, some do not.
    assert!(
        released_somewhere > 0 && released_somewhere < corpus.len(),
        "{released_somewhere}"
    );
}

#[tokio::test]
async fn the_batch_route_answers_the_whole_corpus_in_order() {
    let corpus = corpus();
    let app = app().await;
    for chunk in corpus.chunks(25) {
        let requests: Vec<&Value> = chunk.iter().map(|(_, b)| b).collect();
        let res = app
            .client
            .post(app.url("/v1/rtb/segments:batch"))
            .bearer_auth(RTB_TOKEN)
            .json(&json!({ "requests": requests }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        let responses = v["responses"].as_array().unwrap();
        assert_eq!(responses.len(), chunk.len());
        for ((name, _), r) in chunk.iter().zip(responses) {
            assert!(r.get("status").is_none(), "{name}: {r}");
            check_release(name, r);
        }
    }
}
