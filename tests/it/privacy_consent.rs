//! Attacks on consent resolution, performed against the real server: stale records beating newer
//! withdrawals, future-dated TC strings, strings overriding an opt-out, conflicting US signals
//! resolved permissively, and GPC ignored on RTB or hidden behind a repeated header.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use personify::domain::consent::Purposes;
use personify::domain::ledger::entry::{Action, Change, ReceiptId};
use personify::domain::privacy::{Keyring, Secret, VisitorId};
use personify::store;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;

const VISITOR: &str = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
const RTB_TOKEN: &str = "rtb-partner-token-privacy-consent-7";
const DAY: Duration = Duration::from_secs(86_400);

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

/// A TCF v2.2 core string last updated at `when`, consenting to `purposes` (no vendors, no
/// restrictions), encoded bit by bit as the TCF specification lays it out.
fn tc_string(when: SystemTime, purposes: &[u8]) -> String {
    let mut bits: Vec<bool> = Vec::new();
    let mut push = |v: u64, n: usize| (0..n).rev().for_each(|i| bits.push((v >> i) & 1 == 1));
    let ds = when.duration_since(UNIX_EPOCH).unwrap().as_secs() * 10;
    push(2, 6); // version
    push(ds, 36); // created
    push(ds, 36); // last updated
    push(7, 12); // CMP id
    push(1, 12); // CMP version
    push(1, 6); // consent screen
    push(4, 6); // language "EN"
    push(13, 6);
    push(100, 12); // vendor list version
    push(4, 6); // TCF policy version (2.2)
    push(1, 1); // service-specific
    push(0, 1); // non-standard texts
    push(0, 12); // special features
    for id in 1..=24u8 {
        push(u64::from(purposes.contains(&id)), 1);
    }
    push(0, 24); // legitimate interests
    push(0, 1); // purpose one treatment
    push(6, 6); // publisher country "GB"
    push(1, 6);
    push(0, 16); // vendor consents: max id 0, bitfield
    push(0, 1);
    push(0, 16); // vendor legitimate interests: max id 0, bitfield
    push(0, 1);
    push(0, 12); // publisher restrictions
    let bytes: Vec<u8> = bits
        .chunks(8)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |b, (i, &bit)| b | (u8::from(bit) << (7 - i)))
        })
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

const ALL_PURPOSES: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

/// A server whose store already holds a choice made `days_ago` days ago (the store is written
/// before the server starts, as an earlier run of personify would have).
async fn app_with_stored(action: Action, purposes: Purposes, days_ago: u64) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/personify.db", dir.path().display());
    let store = store::open(&url).await.unwrap();
    let secret = store
        .secret("visitor_key_v1", *Secret::generate().expose())
        .await
        .unwrap();
    let ring = Keyring::new(Secret::from_bytes(secret), SystemTime::now());
    let subject = ring.consent_subject(&VisitorId::parse(VISITOR).unwrap());
    let when = SystemTime::now() - DAY * days_ago as u32;
    store
        .append_consent(vec![Change {
            receipt_id: ReceiptId::Fresh([1; 16]),
            recorded_at: when.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64,
            subject,
            nonce: [1; 16],
            action,
            purposes,
            source: "cmp".into(),
            policy_version: "2026-11".into(),
        }])
        .await
        .unwrap();
    let app = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
    (app, dir)
}

/// The decide answer for `VISITOR` on a mortgage page with these consent strings.
async fn decide(app: &TestApp, consent: Value, country: &str, headers: &[(&str, &str)]) -> Value {
    let body = json!({"page": {"url": "https://bank.example/mortgages/fixed-rate"}, "visitor_id": VISITOR, "consent": consent});
    let res = app.decide_with(&body, Some(country), headers).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn purposes(v: &Value) -> (bool, bool, bool, String) {
    let c = &v["consent"];
    (
        c["personalize"].as_bool().unwrap(),
        c["measure"].as_bool().unwrap(),
        c["advertise"].as_bool().unwrap(),
        c["basis"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn a_tc_string_withdrawing_consent_after_the_stored_record_wins() {
    let (app, _dir) = app_with_stored(Action::Consent, Purposes::ALL, 3).await;
    // The record alone still applies.
    let v = decide(&app, json!({}), "DE", &[]).await;
    assert_eq!(purposes(&v), (true, true, true, "record".into()));
    // A TC string made today with no purposes is the newer choice.
    let refuse = tc_string(SystemTime::now(), &[]);
    let v = decide(&app, json!({"tcf": refuse}), "DE", &[]).await;
    assert_eq!(purposes(&v), (false, false, false, "tcf".into()));
}

#[tokio::test]
async fn a_stored_record_newer_than_the_tc_string_wins() {
    let app = spawn_app().await;
    app.consent(
        VISITOR,
        json!({"personalize": true, "measure": true, "advertise": true}),
    )
    .await;
    let old_refusal = tc_string(SystemTime::now() - DAY * 3, &[]);
    let v = decide(&app, json!({"tcf": old_refusal}), "DE", &[]).await;
    assert_eq!(purposes(&v), (true, true, true, "record".into()));
}

#[tokio::test]
async fn a_tc_string_dated_in_the_future_is_ignored() {
    let app = spawn_app().await;
    let tomorrow = tc_string(SystemTime::now() + DAY * 2, ALL_PURPOSES);
    let v = decide(&app, json!({"tcf": tomorrow}), "DE", &[]).await;
    assert_eq!(purposes(&v), (false, false, false, "jurisdiction_opt_in".into()));
    let warning = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "consent_string_future")
        .unwrap_or_else(|| panic!("no warning: {v}"));
    assert_eq!(warning["field"], "consent.tcf");
    // The same string dated today is a choice.
    let today = tc_string(SystemTime::now(), ALL_PURPOSES);
    let v = decide(&app, json!({"tcf": today}), "DE", &[]).await;
    assert_eq!(purposes(&v), (true, true, true, "tcf".into()));
}

#[tokio::test]
async fn on_the_same_day_the_more_restrictive_choice_wins() {
    let app = spawn_app().await;
    app.consent(
        VISITOR,
        json!({"personalize": true, "measure": true, "advertise": false}),
    )
    .await;
    // The string grants more than the record: the record's refusal of advertise stands.
    let grants_all = tc_string(SystemTime::now(), ALL_PURPOSES);
    let v = decide(&app, json!({"tcf": grants_all}), "DE", &[]).await;
    let (p, m, a, _) = purposes(&v);
    assert_eq!((p, m, a), (true, true, false));
    // The string grants less than the record (storage and measurement only): its refusals stand.
    let measure_only = tc_string(SystemTime::now(), &[1, 8]);
    let v = decide(&app, json!({"tcf": measure_only}), "DE", &[]).await;
    let (p, m, a, _) = purposes(&v);
    assert_eq!((p, m, a), (false, true, false));
}

#[tokio::test]
async fn an_opt_out_yields_to_no_consent_string_only_to_a_newer_record() {
    let (app, _dir) = app_with_stored(Action::OptOut, Purposes::NONE, 3).await;
    let grants_all = tc_string(SystemTime::now(), ALL_PURPOSES);
    let v = decide(&app, json!({"tcf": grants_all.clone()}), "DE", &[]).await;
    assert_eq!(purposes(&v), (false, false, false, "opt_out".into()));
    let gpp = format!("DBABMA~{grants_all}");
    let v = decide(&app, json!({"gpp": gpp, "gpp_sid": [2]}), "US", &[]).await;
    assert_eq!(purposes(&v), (false, false, false, "opt_out".into()));
    // A newer personify record replaces the opt-out.
    app.consent(
        VISITOR,
        json!({"personalize": true, "measure": true, "advertise": true}),
    )
    .await;
    let v = decide(&app, json!({}), "DE", &[]).await;
    assert_eq!(purposes(&v), (true, true, true, "record".into()));
}

#[tokio::test]
async fn a_us_privacy_opt_out_beats_a_usnat_string_that_did_not_opt_out() {
    let app = spawn_app().await;
    let usnat = fixture("gpp", "usnat_no_opt_out");
    let v = decide(&app, json!({"gpp": usnat, "gpp_sid": [7]}), "US", &[]).await;
    assert!(v["consent"]["advertise"].as_bool().unwrap(), "{v}");
    let v = decide(
        &app,
        json!({"gpp": usnat, "gpp_sid": [7], "us_privacy": "1YYN"}),
        "US",
        &[],
    )
    .await;
    let (p, m, a, _) = purposes(&v);
    assert_eq!((p, m, a), (true, true, false), "{v}");
}

#[tokio::test]
async fn a_us_privacy_opt_out_beats_a_full_tc_string() {
    let app = spawn_app().await;
    let full = fixture("tcf", "full_consent_v2_2");
    let v = decide(&app, json!({"tcf": full}), "US", &[]).await;
    assert!(v["consent"]["advertise"].as_bool().unwrap(), "{v}");
    let v = decide(&app, json!({"tcf": full, "us_privacy": "1YYN"}), "US", &[]).await;
    assert_eq!(v["consent"]["advertise"], false, "{v}");
    // A GPP US section that opts out does the same.
    let usnat = fixture("gpp", "usnat_sale_opt_out");
    let v = decide(&app, json!({"tcf": full, "gpp": usnat, "gpp_sid": [7]}), "US", &[]).await;
    assert_eq!(v["consent"]["advertise"], false, "{v}");
}

#[tokio::test]
async fn a_repeated_sec_gpc_header_is_honoured_when_any_value_is_1() {
    let app = spawn_app().await;
    let v = decide(&app, json!({}), "US", &[("Sec-GPC", "0")]).await;
    assert_eq!(purposes(&v), (true, true, true, "jurisdiction_opt_out".into()));
    let v = decide(&app, json!({}), "US", &[("Sec-GPC", "0"), ("Sec-GPC", "1")]).await;
    assert_eq!(purposes(&v), (true, true, false, "gpc".into()));
}

#[tokio::test]
async fn rtb_honours_gpc_in_every_form() {
    let sha = hex::encode(Sha256::digest(RTB_TOKEN.as_bytes()));
    let app = spawn_app_with(|s| {
        s.auth.tokens = vec![personify::config::TokenSettings {
            name: "ssp".into(),
            sha256: sha.parse().expect("token hash"),
            scopes: vec!["rtb".parse().expect("scope")],
        }];
    })
    .await;
    let bid = |regs: Value| {
        json!({
            "id": "b1",
            "site": {"domain": "bank.example", "page": "https://bank.example/mortgages/fixed-rate"},
            "device": {"geo": {"country": "USA"}, "devicetype": 2},
            "regs": regs
        })
    };
    let advertise = |body: Value, headers: Vec<(&'static str, &'static str)>| {
        let mut req = app
            .client
            .post(app.url("/v1/rtb/segments"))
            .bearer_auth(RTB_TOKEN)
            .json(&body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            let v: Value = res.json().await.unwrap();
            v["personify"]["consent"]["advertise"].as_bool().unwrap()
        }
    };
    // Without GPC, a US visitor's bid request may be targeted.
    assert!(advertise(bid(json!({"gdpr": 0})), vec![]).await);
    assert!(advertise(bid(json!({"gdpr": 0})), vec![("Sec-GPC", "0")]).await);
    for (name, regs, headers) in [
        ("Sec-GPC header", json!({"gdpr": 0}), vec![("Sec-GPC", "1")]),
        (
            "repeated Sec-GPC header",
            json!({"gdpr": 0}),
            vec![("Sec-GPC", "0"), ("Sec-GPC", "1")],
        ),
        ("regs.gpc 1", json!({"gdpr": 0, "gpc": 1}), vec![]),
        ("regs.gpc \"1\"", json!({"gdpr": 0, "gpc": "1"}), vec![]),
        ("regs.ext.gpc true", json!({"gdpr": 0, "ext": {"gpc": true}}), vec![]),
        ("regs.ext.gpc \"1\"", json!({"gdpr": 0, "ext": {"gpc": "1"}}), vec![]),
    ] {
        assert!(!advertise(bid(regs), headers).await, "{name} did not deny advertise");
    }
}
