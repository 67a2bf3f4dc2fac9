//! Consent end to end: the resolution order, the consent API, opt-outs, the hash-chained log and its
//! verification, admin tokens, durability across `kill -9`, and what reaches the disk and the log.

use serde_json::{json, Value};

use crate::helpers::process::Server;
use crate::helpers::*;

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

fn tc(name: &str) -> String {
    fixture("tcf", name)
}

async fn decide_json(app: &TestApp, body: Value, country: Option<&str>, headers: &[(&str, &str)]) -> Value {
    let res = app.decide_with(&body, country, headers).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn mortgage(extra: Value) -> Value {
    let mut body = json!({"page": {"url": "https://bank.example/mortgages/fixed-rate"}});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn each_row_of_the_resolution_order() {
    let app = spawn_app().await;
    let c = |v: &Value| {
        (
            v["consent"]["basis"].as_str().unwrap().to_string(),
            v["consent"]["personalize"].as_bool().unwrap(),
            v["consent"]["advertise"].as_bool().unwrap(),
        )
    };

    // 1. A record beats a full-consent TC string.
    app.consent(
        &vid("v-record"),
        json!({"personalize": false, "measure": true, "advertise": false}),
    )
    .await;
    let v = decide_json(
        &app,
        mortgage(json!({"visitor_id": vid("v-record"), "consent": {"tcf": tc("full_consent_v2_2")}})),
        Some("DE"),
        &[],
    )
    .await;
    assert_eq!(c(&v), ("record".into(), false, false));
    assert!(segment_ids(&v).is_empty());

    // 2. TCF beats GPP: a refusing TC string with a GPP string that opts out of nothing.
    let body = mortgage(
        json!({"consent": {"tcf": tc("refuse_all_v2_3"), "gpp": fixture("gpp", "usnat_no_opt_out"), "gpp_sid": [7]}}),
    );
    assert_eq!(
        c(&decide_json(&app, body, Some("US"), &[]).await),
        ("tcf".into(), false, false)
    );

    // TCF decides in an opt-in jurisdiction too.
    let v = decide_json(
        &app,
        mortgage(json!({"consent": {"tcf": tc("full_consent_v2_2")}})),
        Some("DE"),
        &[],
    )
    .await;
    assert_eq!(c(&v), ("tcf".into(), true, true));
    assert_eq!(segment_ids(&v), ["mortgage_intent"]);

    // 3. GPP beats us_privacy.
    let body = mortgage(
        json!({"consent": {"gpp": fixture("gpp", "usnat_sale_opt_out"), "gpp_sid": [7], "us_privacy": "1YNN"}}),
    );
    assert_eq!(
        c(&decide_json(&app, body, Some("US"), &[]).await),
        ("gpp".into(), true, false)
    );
    // A GPP string carrying a TCF section is decided by that section.
    let body = mortgage(json!({"consent": {"gpp": fixture("gpp", "tcfeuv2_contextual_only")}}));
    assert_eq!(
        c(&decide_json(&app, body, Some("FR"), &[]).await),
        ("gpp".into(), true, true)
    );

    // 4. us_privacy beats GPC as the basis, and GPC still denies advertise.
    let body = mortgage(json!({"consent": {"us_privacy": "1YNN"}}));
    assert_eq!(
        c(&decide_json(&app, body.clone(), Some("US"), &[("Sec-GPC", "1")]).await),
        ("us_privacy".into(), true, false)
    );
    assert_eq!(
        c(&decide_json(&app, body, Some("US"), &[]).await),
        ("us_privacy".into(), true, true)
    );
    let body = mortgage(json!({"consent": {"us_privacy": "1YYN"}}));
    assert_eq!(
        c(&decide_json(&app, body, Some("US"), &[]).await),
        ("us_privacy".into(), true, false)
    );

    // 5. GPC beats the default.
    assert_eq!(
        c(&decide_json(&app, mortgage(json!({})), Some("US"), &[("Sec-GPC", "1")]).await),
        ("gpc".into(), true, false)
    );

    // 6. The jurisdiction default; US strings cannot grant in an opt-in jurisdiction.
    assert_eq!(
        c(&decide_json(&app, mortgage(json!({})), Some("US"), &[]).await),
        ("jurisdiction_opt_out".into(), true, true)
    );
    let body = mortgage(json!({"consent": {"us_privacy": "1YNN"}}));
    assert_eq!(
        c(&decide_json(&app, body, Some("DE"), &[]).await),
        ("jurisdiction_opt_in".into(), false, false)
    );
    assert_eq!(
        c(&decide_json(&app, mortgage(json!({})), None, &[]).await),
        ("jurisdiction_opt_in".into(), false, false)
    );
}

#[tokio::test]
async fn malformed_strings_are_warnings_never_errors() {
    let app = spawn_app().await;
    let body = mortgage(json!({"consent": {"tcf": "CQsecretvalueQQ", "gpp": "DBAB~secretgpp", "us_privacy": "2XYZ"}}));
    let v = decide_json(&app, body, Some("US"), &[]).await;
    assert_eq!(v["consent"]["basis"], "jurisdiction_opt_out");
    let fields: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["consent.tcf", "consent.gpp", "consent.us_privacy"]);
    assert!(v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["code"] == "consent_string_invalid"));
    assert!(
        !v.to_string().contains("secret") && !v.to_string().contains("2XYZ"),
        "{v}"
    );
}

#[tokio::test]
async fn tcf_purposes_gate_session_based_segments_and_the_visitor_id() {
    let app = spawn_app().await;
    // returning_researchers reads the session summary: TCF 5 and 6 are needed, 11 is not enough.
    let body = |tcf: &str| json!({"page": {"url": "https://bank.example/help"}, "session": {"pages_viewed": 5, "returning": true}, "consent": {"tcf": tcf}});
    let v = decide_json(&app, body(&tc("contextual_only_v2_2")), Some("DE"), &[]).await;
    assert!(v["consent"]["personalize"].as_bool().unwrap());
    assert!(segment_ids(&v).is_empty(), "{v}");
    let v = decide_json(&app, body(&tc("full_consent_v2_2")), Some("DE"), &[]).await;
    assert_eq!(segment_ids(&v), ["returning_researchers"]);

    // Without purpose 1 the visitor_id is ignored: every id on this connection gets the cookieless key.
    let arms = |tcf: String| {
        let app = &app;
        async move {
            let mut arms = std::collections::BTreeSet::new();
            for i in 0..12 {
                let v = decide_json(
                    app,
                    mortgage(json!({"visitor_id": vid(&format!("visitor-{i}")), "consent": {"tcf": tcf}})),
                    Some("DE"),
                    &[],
                )
                .await;
                arms.insert(
                    v["decisions"]["hero"]["experiment"]["arm"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            arms.len()
        }
    };
    assert_eq!(arms(tc("no_storage_v2_2")).await, 1);
    assert!(arms(tc("full_consent_v2_2")).await > 1);
}

#[tokio::test]
async fn sensitive_segments_need_explicit_consent() {
    let app = spawn_app().await;
    let page = json!({"page": {"url": "https://bank.example/bereavement-support/registering-a-death"}, "visitor_id": vid("v-bereaved")});
    // The opt-out jurisdiction default grants personalize, but not explicitly.
    let v = decide_json(&app, page.clone(), Some("US"), &[]).await;
    assert!(segment_ids(&v).is_empty());
    assert_eq!(variant(&v, "hero"), "generic");
    app.consent(&vid("v-bereaved"), json!({"personalize": true})).await;
    let v = decide_json(&app, page, Some("US"), &[]).await;
    assert_eq!(segment_ids(&v), ["bereavement_support"]);
    assert_eq!(variant(&v, "hero"), "bereavement_help");
    assert_eq!(variant(&v, "sidebar"), "bereavement_contacts");
}

#[tokio::test]
async fn an_opt_out_beats_a_full_consent_tc_string() {
    let app = spawn_app().await;
    let res = app.post("/v1/opt-out", &json!({"visitor_id": vid("v-out")})).await;
    assert_eq!(res.status(), 201);
    let receipt: Value = res.json().await.unwrap();
    assert_eq!(receipt["action"], "opt_out");
    assert_eq!(
        receipt["purposes"],
        json!({"personalize": false, "measure": false, "advertise": false})
    );
    let v = decide_json(
        &app,
        mortgage(json!({"visitor_id": vid("v-out"), "consent": {"tcf": tc("full_consent_v2_3")}})),
        Some("US"),
        &[],
    )
    .await;
    assert_eq!(
        v["consent"],
        json!({"personalize": false, "measure": false, "advertise": false, "basis": "opt_out"})
    );
    assert!(segment_ids(&v).is_empty());
}

#[tokio::test]
async fn a_consent_gets_a_receipt_with_its_leaf_and_proof_and_replaces_the_last_choice() {
    let app = spawn_app().await;
    let r1 = app
        .consent(
            &vid("v-42"),
            json!({"personalize": true, "measure": true, "advertise": false}),
        )
        .await;
    assert_eq!(r1["leaf_index"], 0);
    assert_eq!(
        r1["purposes"],
        json!({"personalize": true, "measure": true, "advertise": false})
    );
    let id = r1["receipt_id"].as_str().unwrap();
    assert_eq!(id.len(), 48);
    assert_eq!(
        u64::from_str_radix(&id[..16], 16).unwrap(),
        r1["leaf_index"].as_u64().unwrap(),
        "{r1}"
    );
    assert_eq!(r1["leaf_hash"].as_str().unwrap().len(), 64);
    assert_eq!(
        r1["proof"],
        format!("/v1/consent/receipts/{}/proof", r1["receipt_id"].as_str().unwrap())
    );
    assert!(r1["recorded_at"].as_str().unwrap().ends_with('Z'));
    let r2 = app.consent(&vid("v-42"), json!({"advertise": true})).await;
    assert_eq!(
        r2["purposes"],
        json!({"personalize": false, "measure": false, "advertise": true})
    );
}

#[tokio::test]
async fn status_lists_the_current_choice_and_every_receipt_in_order() {
    let app = spawn_app().await;
    let r1 = app
        .consent(
            &vid("v-42"),
            json!({"personalize": true, "measure": true, "advertise": false}),
        )
        .await;
    let r2 = app.consent(&vid("v-42"), json!({"advertise": true})).await;
    let status: Value = app
        .post("/v1/consent/status", &json!({"visitor_id": vid("v-42")}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["recorded"], true);
    assert_eq!(status["purposes"], r2["purposes"]);
    let receipts: Vec<&str> = status["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["receipt_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        receipts,
        [r1["receipt_id"].as_str().unwrap(), r2["receipt_id"].as_str().unwrap()]
    );
    let none: Value = app
        .post("/v1/consent/status", &json!({"visitor_id": vid("v-never")}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        none,
        json!({"recorded": false, "purposes": null, "opted_out": false, "recorded_at": null, "receipts": []})
    );
}

#[tokio::test]
async fn the_purpose_catalogue_lists_each_purpose_and_keeps_sensitive_segments_from_advertising() {
    let app = spawn_app().await;
    let purposes: Value = app
        .client
        .get(app.url("/v1/consent/purposes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = purposes["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["personalize", "measure", "advertise"]);
    assert_eq!(
        purposes["purposes"][0]["sensitive_segments"],
        json!(["bereavement_support"])
    );
    assert!(!purposes["purposes"][2]["segments"]
        .as_array()
        .unwrap()
        .contains(&json!("bereavement_support")));
}

#[tokio::test]
async fn consent_api_bad_input_is_400_naming_the_field() {
    let app = spawn_app().await;
    let ok = json!({"visitor_id": vid("v-1"), "purposes": {"personalize": true}, "source": "cmp", "policy_version": "2026-11"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let mut missing = ok.clone();
    missing.as_object_mut().unwrap().remove("visitor_id");
    let cases = [
        (missing, "visitor_id"),
        (with("visitor_id", json!("")), "visitor_id"),
        (with("visitor_id", json!("x".repeat(1024))), "visitor_id"),
        (with("visitor_id", json!(17)), "visitor_id"),
        (with("purposes", json!({"profiling": true})), "purposes"),
        (with("purposes", json!({})), "purposes"),
        (with("purposes", json!({"measure": "yes"})), "purposes.measure"),
        (with("purposes", json!(["personalize"])), "purposes"),
        (with("source", json!("")), "source"),
        (with("source", json!("203.0.113.77")), "source"),
        (with("policy_version", json!("v 1; drop")), "policy_version"),
        (with("policy_version", json!("2026-01")), "policy_version"),
        (with("visitor_id", json!("1")), "visitor_id"),
    ];
    for (body, field) in cases {
        let res = app.post("/v1/consent", &body).await;
        assert_eq!(res.status(), 400, "{body}");
        let e: Value = res.json().await.unwrap();
        assert_eq!(e["error"]["field"], field, "{body}");
    }
    for route in ["/v1/opt-out", "/v1/consent/status"] {
        let res = app.post(route, &json!({"visitor_id": ""})).await;
        assert_eq!(res.status(), 400);
        let res = app.post(route, &json!({})).await;
        let e: Value = res.json().await.unwrap();
        assert_eq!(e["error"]["field"], "visitor_id");
    }
}

#[tokio::test]
async fn admin_routes_need_a_token_with_the_right_scope() {
    // No token configured at all: 401 explaining how to set one.
    let bare = spawn_app_with(|s| s.auth.admin_token = String::new().into()).await;
    let res = bare.client.get(bare.url("/v1/admin/consent/log")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let e: Value = res.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PERSONIFY_ADMIN_TOKEN"),
        "{e}"
    );

    let analyst = "analyst-token-77";
    let compliance = "compliance-token-31";
    let sha = |t: &str| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(t.as_bytes()));
    let app = spawn_app_with(|s| {
        s.auth.tokens = vec![
            personify::config::TokenSettings {
                name: "analysts".into(),
                sha256: sha(analyst).parse().expect("token hash"),
                scopes: vec!["analyst".parse().expect("scope")],
            },
            personify::config::TokenSettings {
                name: "dpo".into(),
                sha256: sha(compliance).parse().expect("token hash"),
                scopes: vec!["compliance".parse().expect("scope")],
            },
        ]
    })
    .await;
    let get = |token: Option<&'static str>| {
        let mut req = app.client.get(app.url("/v1/admin/consent/verify"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 401);
    assert_eq!(get(Some("wrong-token")).await.unwrap().status(), 401);
    assert_eq!(get(Some(analyst)).await.unwrap().status(), 403);
    assert_eq!(get(Some(compliance)).await.unwrap().status(), 200);
    assert_eq!(app.admin_get("/v1/admin/consent/verify").await.status(), 200);
}

#[tokio::test]
async fn the_log_pages_in_three_formats_and_verifies() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.consent(&vid(&format!("v-{i}")), json!({"personalize": i % 2 == 0}))
            .await;
    }
    app.post("/v1/opt-out", &json!({"visitor_id": vid("v-0")})).await;
    let page1: Value = app
        .admin_get("/v1/admin/consent/log?limit=4")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page1["entries"].as_array().unwrap().len(), 4);
    assert_eq!(page1["next_from"], 4);
    let page2: Value = app
        .admin_get("/v1/admin/consent/log?from=4&limit=4")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page2["entries"].as_array().unwrap().len(), 2);
    assert_eq!(page2["next_from"], Value::Null);
    assert_eq!(page2["entries"][0]["index"], 4);
    assert_eq!(page2["entries"][1]["action"], "opt_out");
    for e in page1["entries"].as_array().unwrap() {
        assert_eq!(e["commitment"].as_str().unwrap().len(), 64);
        assert!(
            e.get("subject").is_none(),
            "the keyed visitor hash is never exported: {e}"
        );
        assert!(e["time"].as_str().unwrap().ends_with('Z'), "times are ISO 8601: {e}");
        for i in 0..5 {
            let raw = vid(&format!("v-{i}"));
            assert!(!e.to_string().contains(&raw), "raw visitor id in the log: {e}");
        }
    }

    let nd = app.admin_get("/v1/admin/consent/log?format=ndjson").await;
    assert_eq!(nd.headers()["content-type"], "application/x-ndjson");
    assert_eq!(nd.text().await.unwrap().lines().count(), 6);
    let csv = app
        .admin_get("/v1/admin/consent/log?format=csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("index,receipt_id,time,action,"));
    assert_eq!(csv.lines().count(), 7);

    for (q, param) in [
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("from=-1", "from"),
        ("from=x", "from"),
        ("format=xml", "format"),
    ] {
        let res = app.admin_get(&format!("/v1/admin/consent/log?{q}")).await;
        assert_eq!(res.status(), 400, "{q}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"]["field"], param);
    }

    let v: Value = app.admin_get("/v1/admin/consent/verify").await.json().await.unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["entries"], 6);
    assert_eq!(v["state"], "consistent");
    assert_eq!(v["records_checked"], 5);
}

#[tokio::test]
async fn a_tampered_row_makes_verify_fail_and_name_it() {
    let app = spawn_app().await;
    for i in 0..4 {
        app.consent(
            &vid(&format!("v-{i}")),
            json!({"personalize": false, "advertise": false}),
        )
        .await;
    }
    let db = app.data_dir.path().join("personify.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    // The table refuses edits; someone with file access can still drop the guard and rewrite history.
    let refused = sqlx::query("UPDATE consent_leaves SET advertise = 1 WHERE idx = 2")
        .execute(&pool)
        .await;
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    sqlx::query("DROP TRIGGER consent_leaves_no_update")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE consent_leaves SET advertise = 1 WHERE idx = 2")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let v: Value = app.admin_get("/v1/admin/consent/verify").await.json().await.unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["state"], "inconsistent");
    assert_eq!(v["problems"][0]["kind"], "entry_altered");
    assert_eq!(v["problems"][0]["index"], 2);
    assert_eq!(v["entries"], 4);
}

#[tokio::test]
async fn a_consent_survives_kill_9_and_nothing_raw_reaches_disk_or_log() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let visitor = "visitor-raw-id-6f2c91ab";
    let ua = "Mozilla/5.0 (X11; Linux x86_64) ScanAgent-4d2e/9.9";
    let tcf_string = tc("full_consent_v2_2");
    let us_privacy = "1YNN";

    let server = Server::start(dir.path(), &[]);
    let res = client
        .post(format!("{}/v1/consent", server.base()))
        .header("User-Agent", ua)
        .json(&json!({"visitor_id": visitor, "purposes": {"personalize": true, "measure": false, "advertise": false}, "source": "cmp", "policy_version": "2026-11"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let receipt: Value = res.json().await.unwrap();
    let decide_body = json!({"page": {"url": "https://bank.example/savings"}, "visitor_id": visitor, "consent": {"tcf": tcf_string, "us_privacy": us_privacy}});
    let res = client
        .post(format!("{}/v1/decide", server.base()))
        .header("User-Agent", ua)
        .header("CF-IPCountry", "DE")
        .json(&decide_body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["consent"]["basis"], "record");
    let first_log = server.log_text();
    server.kill_9();

    let server = Server::start(dir.path(), &[]);
    let status: Value = client
        .post(format!("{}/v1/consent/status", server.base()))
        .json(&json!({"visitor_id": visitor}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["receipts"][0]["receipt_id"], receipt["receipt_id"]);
    let v: Value = client
        .post(format!("{}/v1/decide", server.base()))
        .header("User-Agent", ua)
        .header("CF-IPCountry", "DE")
        .json(&decide_body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["consent"],
        json!({"personalize": true, "measure": false, "advertise": false, "basis": "record"})
    );
    assert_eq!(segment_ids(&v), ["savers"]);
    let log = format!("{first_log}\n{}", server.log_text());
    // actix-server's startup line names the server's own listening socket, not a client's.
    let log: String = log
        .lines()
        .filter(|l| !l.contains("starting service:"))
        .collect::<Vec<_>>()
        .join("\n");
    drop(server);

    let mut haystack = log.into_bytes();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        haystack.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let contains = |needle: &str| haystack.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains("consent_leaves"), "the scan must see the database");
    for raw in [visitor, "ScanAgent-4d2e", &tcf_string[..40], us_privacy, "127.0.0.1"] {
        assert!(!contains(raw), "{raw:?} reached the store files or the log");
    }
}
