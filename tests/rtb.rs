//! `POST /v1/rtb/segments` with realistic bid requests: released with consent above k; withheld for
//! GPC, TCF refusal, GDPR without a string, 1YYN, GPP opt-out, a sensitive page, a segment below k.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const CHROME: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const RTB_TOKEN: &str = "rtb-partner-token-9c2";

fn fixture(kind: &str, name: &str) -> String {
    let text = std::fs::read_to_string(manifest_dir().join("tests/fixtures/consent_strings.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    all[kind]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["string"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A server with k = 3 whose release set holds mortgage_intent (5 visitors) but not students.
async fn rtb_app() -> TestApp {
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(RTB_TOKEN.as_bytes()));
    let app = spawn_app_with(|s| {
        s.privacy.k = 3;
        // Seed visitors come from distinct networks (release needs k networks as well as k visitors).
        s.server.client_ip_header = "X-Forwarded-For".into();
        s.counts.flush_seconds = 1;
        s.counts.release_refresh_seconds = 1;
        s.auth.tokens = vec![personify::config::TokenSettings {
            name: "ssp".into(),
            sha256: sha,
            scopes: vec!["rtb".into()],
        }];
    })
    .await;
    for i in 0..5 {
        let body = json!({"page": {"url": "https://bank.example/mortgages/fixed-rate"}, "visitor_id": vid(&format!("seed-{i}"))});
        let addr = format!("198.51.{i}.7");
        let res = app.decide_with(&body, Some("US"), &[("X-Forwarded-For", &addr)]).await;
        assert_eq!(res.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app
}

/// A web bid request on a bank.example page (OpenRTB 2.6 shape).
fn web(path: &str, regs: Value, user: Value) -> Value {
    json!({
        "id": "bid-7f3a",
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"id": "s1", "domain": "bank.example", "page": format!("https://bank.example{path}"), "ref": "https://www.google.com/",
                 "publisher": {"id": "pub-1"}},
        "device": {"ua": CHROME, "ip": "203.0.113.9", "geo": {"country": "USA", "lat": 40.7, "lon": -74.0}, "devicetype": 2},
        "user": user,
        "regs": regs,
        "tmax": 120
    })
}

async fn rtb(app: &TestApp, body: &Value) -> Value {
    let res = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .bearer_auth(RTB_TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn reasons(v: &Value) -> Vec<(String, String)> {
    v["personify"]["withheld"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["segment"].as_str().unwrap().to_string(),
                w["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn released_with_consent_above_k_in_both_consent_locations() {
    let app = rtb_app().await;
    let v = rtb(
        &app,
        &web(
            "/mortgages/fixed-rate",
            json!({"gdpr": 0}),
            json!({"id": "buyer-uid-1"}),
        ),
    )
    .await;
    assert_eq!(v["id"], "bid-7f3a");
    assert_eq!(
        v["user"],
        json!({"data": [{"name": "personify.bank.example", "ext": {"segtax": 4}, "segment": [{"id": "1394"}]}]})
    );
    assert_eq!(
        v["site"],
        json!({"content": {"data": [{"name": "personify.bank.example", "ext": {"segtax": 7}, "segment": [{"id": "407"}]}]}})
    );
    assert_eq!(v["personify"]["released"], json!(["mortgage_intent"]));
    assert_eq!(v["personify"]["consent"]["basis"], "jurisdiction_opt_out");

    // EU with a full-consent TC string, in the 2.6 (user.consent) and 2.5 (user.ext.consent, regs.ext.gdpr) places.
    let tc = fixture("tcf", "full_consent_v2_2");
    let mut eu = web("/mortgages/fixed-rate", json!({"gdpr": 1}), json!({"consent": tc}));
    eu["device"]["geo"]["country"] = json!("DEU");
    assert_eq!(
        rtb(&app, &eu).await["personify"]["released"],
        json!(["mortgage_intent"])
    );
    let mut eu25 = web(
        "/mortgages/fixed-rate",
        json!({"ext": {"gdpr": 1}}),
        json!({"ext": {"consent": tc}}),
    );
    eu25["device"]["geo"]["country"] = json!("FRA");
    let v = rtb(&app, &eu25).await;
    assert_eq!(v["personify"]["released"], json!(["mortgage_intent"]));
    assert_eq!(v["personify"]["consent"]["basis"], "tcf");
}

#[tokio::test]
async fn withheld_for_every_kind_of_refusal() {
    let app = rtb_app().await;
    let page = "/mortgages/fixed-rate";
    let cases = [
        (
            web(page, json!({"ext": {"gpc": "1"}}), json!({})),
            "no_advertise_consent",
            "gpc",
        ),
        (
            web(
                page,
                json!({"gdpr": 1}),
                json!({"consent": fixture("tcf", "refuse_all_v2_3")}),
            ),
            "no_advertise_consent",
            "tcf",
        ),
        (
            web(page, json!({"gdpr": 1}), json!({})),
            "gdpr_without_consent_string",
            "jurisdiction_opt_in",
        ),
        (
            web(page, json!({"us_privacy": "1YYN"}), json!({})),
            "no_advertise_consent",
            "us_privacy",
        ),
        (
            web(page, json!({"ext": {"us_privacy": "1YYN"}}), json!({})),
            "no_advertise_consent",
            "us_privacy",
        ),
        (
            web(
                page,
                json!({"gpp": fixture("gpp", "usnat_sale_opt_out"), "gpp_sid": [7]}),
                json!({}),
            ),
            "no_advertise_consent",
            "gpp",
        ),
    ];
    for (body, reason, basis) in cases {
        let v = rtb(&app, &body).await;
        assert!(v.get("user").is_none() && v.get("site").is_none(), "{v}");
        assert_eq!(
            reasons(&v),
            [("mortgage_intent".to_string(), reason.to_string())],
            "{body}"
        );
        assert_eq!(v["personify"]["consent"]["basis"], basis, "{body}");
    }
    // Contextual consent (purpose 2) is enough for this contextual segment.
    let ctx = web(
        page,
        json!({"gdpr": 1}),
        json!({"consent": fixture("tcf", "contextual_only_v2_3")}),
    );
    assert_eq!(
        rtb(&app, &ctx).await["personify"]["released"],
        json!(["mortgage_intent"])
    );
}

#[tokio::test]
async fn sensitive_pages_and_small_segments_release_nothing() {
    let app = rtb_app().await;
    let v = rtb(
        &app,
        &web("/bereavement-support/registering-a-death", json!({}), json!({})),
    )
    .await;
    assert!(v.get("user").is_none());
    assert_eq!(
        reasons(&v),
        [("sensitive".to_string(), "sensitive_segment".to_string())]
    );
    assert!(
        !v.to_string().contains("bereavement"),
        "a sensitive segment must never be named: {v}"
    );
    let v = rtb(&app, &web("/students/account", json!({}), json!({}))).await;
    assert!(v.get("user").is_none());
    assert_eq!(reasons(&v), [("students".to_string(), "below_k".to_string())]);
}

#[tokio::test]
async fn app_inventory_and_batches() {
    let app = rtb_app().await;
    let app_req = json!({"id": "app-1", "app": {"bundle": "com.bank.example", "storeurl": "https://play.google.com/store/apps/details?id=com.bank.example"},
                         "device": {"devicetype": 4, "geo": {"country": "USA"}, "ifa": "ab12cd34-0000-4000-8000-000000000000"}});
    let v = rtb(&app, &app_req).await;
    assert_eq!(v["id"], "app-1");
    assert_eq!(v["personify"]["released"], json!([]));
    assert!(!v.to_string().contains("ab12cd34"));

    let batch =
        json!({"requests": [web("/mortgages/fixed-rate", json!({}), json!({})), {"site": {"page": 42}}, app_req]});
    let res = app
        .client
        .post(app.url("/v1/rtb/segments:batch"))
        .bearer_auth(RTB_TOKEN)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let r = v["responses"].as_array().unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0]["personify"]["released"], json!(["mortgage_intent"]));
    assert_eq!(r[1]["status"], 400);
    assert_eq!(r[1]["error"]["field"], "requests[1].site.page");
    assert_eq!(r[2]["id"], "app-1");
    let too_many = json!({"requests": vec![json!({}); 101]});
    let res = app
        .client
        .post(app.url("/v1/rtb/segments:batch"))
        .bearer_auth(RTB_TOKEN)
        .json(&too_many)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn tokens_and_bad_input() {
    let app = rtb_app().await;
    let body = web("/mortgages", json!({}), json!({}));
    let res = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .bearer_auth("nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let post = |b: reqwest::Body| {
        app.client
            .post(app.url("/v1/rtb/segments"))
            .bearer_auth(RTB_TOKEN)
            .header("Content-Type", "application/json")
            .body(b)
            .send()
    };
    let res = post("{\"site\": ".into()).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "malformed_json");
    for (b, field) in [
        (json!({"site": {"page": 5}}), "site.page"),
        (
            json!({"site": {"page": "https://bank.example/"}, "device": {"devicetype": "phone"}}),
            "device.devicetype",
        ),
        (
            json!({"site": {"page": "https://bank.example/"}, "regs": {"gpp_sid": "7"}}),
            "regs.gpp_sid",
        ),
        (json!({"site": {"page": "ftp://bank.example/"}}), "site.page"),
        (json!({"device": {"ua": CHROME}}), "site.page"),
    ] {
        let res = post(b.to_string().into()).await.unwrap();
        assert_eq!(res.status(), 400, "{b}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"]["field"], field, "{b}");
    }
}
