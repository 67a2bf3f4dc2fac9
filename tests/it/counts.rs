//! Aggregates: HLL accuracy and merging, consent gating, k-suppression, unions over days, durability
//! across a graceful restart, and conversions on the arm the visitor was bucketed into.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use personify::domain::counts::report::civil_from_days;
use personify::domain::counts::{Kind, Seen, Sketch};
use personify::domain::privacy::utc_day;
use personify::engine::counter::Counts;
use personify::store::{self, SketchRow};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::closed_day::{day_cell, segment, ClosedDay, DAY};
use crate::helpers::*;

fn key(i: u64) -> [u8; 32] {
    Sha256::digest(i.to_be_bytes()).into()
}

/// An address in the `i`-th of many distinct /24 networks.
fn network(i: u64) -> IpAddr {
    IpAddr::from([10, (i / 250) as u8, (i % 250) as u8, 9])
}

#[test]
fn one_hundred_thousand_distinct_keys_are_estimated_within_two_percent() {
    let mut s = Sketch::new();
    for i in 0..100_000 {
        s.insert(&key(i));
        s.insert(&key(i)); // duplicates do not count
    }
    let est = s.count();
    assert!((est - 100_000.0).abs() / 100_000.0 < 0.02, "estimate {est}");
}

#[tokio::test]
async fn two_sketches_restored_from_the_store_and_merged_equal_the_sketch_of_the_union() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&format!("sqlite://{}/p.db", dir.path().display()))
        .await
        .unwrap();
    let (mut a, mut b, mut union) = (Sketch::new(), Sketch::new(), Sketch::new());
    for i in 0..60_000 {
        a.insert(&key(i));
        union.insert(&key(i));
    }
    for i in 40_000..100_000 {
        b.insert(&key(i));
        union.insert(&key(i));
    }
    let row = |node: &str, s: &Sketch| SketchRow {
        kind: Kind::Segment,
        key: "x".into(),
        day: 1,
        node: node.into(),
        blob: s.to_envelope(),
    };
    store
        .put_counts(vec![row("n1", &a), row("n2", &b)], vec![])
        .await
        .unwrap();
    let rows = store.sketches(Kind::Segment, Some("x"), 1, 1).await.unwrap();
    assert_eq!(rows.len(), 2);
    let mut merged = Sketch::from_envelope(&rows[0].blob).unwrap();
    merged.merge(&Sketch::from_envelope(&rows[1].blob).unwrap());
    assert_eq!(merged.count(), union.count());
    assert!((union.count() - 100_000.0).abs() < 2_000.0);
}

#[tokio::test]
async fn a_corrupt_stored_sketch_is_replaced_not_merged_and_reports_skip_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&format!("sqlite://{}/p.db", dir.path().display()))
        .await
        .unwrap();
    let today = utc_day(SystemTime::now());
    let mut corrupt = {
        let mut s = Sketch::new();
        (0..500).for_each(|i| s.insert(&key(i)));
        s.to_envelope()
    };
    let n = corrupt.len();
    corrupt[n - 1] ^= 0xFF;
    let row = |node: &str, blob: Vec<u8>| SketchRow {
        kind: Kind::Segment,
        key: "savers".into(),
        day: today,
        node: node.into(),
        blob,
    };
    let mut other = Sketch::new();
    (1000..1040).for_each(|i| other.insert(&key(i)));
    store
        .put_counts(vec![row("n1", corrupt), row("n2", other.to_envelope())], vec![])
        .await
        .unwrap();
    // A report skips the corrupt row: only the other node's 40 visitors are counted.
    let counts = Counts::new(Arc::clone(&store), "n1".into());
    let u = counts
        .union(Kind::Segment, "savers", today, today)
        .await
        .unwrap()
        .unwrap();
    assert!((u - 40.0).abs() < 1.0, "{u}");
    // A flush by the node that owns the corrupt row replaces it with a valid sketch of what it
    // counted since: the 500 keys in the corrupt blob are not merged in.
    let seg: Arc<str> = "savers".into();
    (2000..2010).for_each(|i| counts.distinct(Kind::Segment, &seg, today, &key(i)));
    counts.flush().await.unwrap();
    let mine = store
        .sketch(Kind::Segment, "savers", today, "n1")
        .await
        .unwrap()
        .unwrap();
    let replaced = Sketch::from_envelope(&mine).unwrap().count();
    assert!((replaced - 10.0).abs() < 0.5, "{replaced}");
    let u = counts
        .union(Kind::Segment, "savers", today, today)
        .await
        .unwrap()
        .unwrap();
    assert!((u - 50.0).abs() < 1.0, "{u}");
}

/// Page views of visitors `visitors`, each from its own network (the address is read only by servers
/// configured with `server.client_ip_header`).
async fn page_views(app: &TestApp, url: &str, visitors: std::ops::Range<u64>, country: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for i in visitors {
        let body = json!({"page": {"url": url}, "visitor_id": vid(&format!("visitor-{i}"))});
        let addr = network(i).to_string();
        let res = app
            .decide_with(&body, Some(country), &[("X-Forwarded-For", addr.as_str())])
            .await;
        assert_eq!(res.status(), 200);
        out.push(res.json().await.unwrap());
    }
    out
}

#[tokio::test]
async fn visitors_without_measure_are_not_counted_and_small_rows_are_suppressed() {
    let Some(mut day) = ClosedDay::start(&[
        ("PERSONIFY__PRIVACY__K", "5"),
        ("PERSONIFY__SERVER__CLIENT_IP_HEADER", "X-Forwarded-For"),
    ]) else {
        return;
    };
    page_views(&day.app, "https://bank.example/savings", 0..20, "DE").await; // opt-in, no consent: not counted
    page_views(&day.app, "https://bank.example/students", 0..3, "US").await; // below k = 5
    page_views(&day.app, "https://bank.example/business", 0..8, "US").await;
    day.next_morning();
    let report = day.day_report().await;
    assert_eq!(report["k"], 5);
    assert_eq!(
        day_cell(&report, "savers"),
        &json!({"date": DAY, "uniques": null, "views": null, "suppressed": true})
    );
    assert_eq!(segment(&report, "savers")["views"], Value::Null);
    assert_eq!(segment(&report, "savers")["suppressed_days"], 1);
    assert_eq!(day_cell(&report, "students")["suppressed"], true);
    assert_eq!(day_cell(&report, "students")["uniques"], Value::Null);
    // The positive control: the same run counts a segment at k.
    assert_eq!(
        day_cell(&report, "small_business"),
        &json!({"date": DAY, "uniques": 8, "views": 8, "suppressed": false})
    );
    assert_eq!(segment(&report, "small_business")["views"], 8);
}

#[tokio::test]
async fn uniques_over_a_week_with_overlapping_visitors_are_a_union() {
    let app = spawn_app().await; // the shipped k = 50
    let store = store::open(&format!("sqlite://{}/personify.db", app.data_dir.path().display()))
        .await
        .unwrap();
    let counts = Counts::new(store, "writer".into());
    let now = SystemTime::now();
    counts.refresh_network_salts(now).await.unwrap();
    let today = utc_day(now);
    // The ISO week before last: closed whatever the time of day. Day 0 (1970-01-01) was a Thursday.
    let monday = today - (today + 3).rem_euclid(7) - 14;
    let seg: Arc<str> = "savers".into();
    for (d, range) in [(monday, 0..1000), (monday + 1, 500..1500), (monday + 2, 1000..2000)] {
        for i in range {
            let net = counts.network_key(Some(network(i)), now);
            counts.seen(Kind::Segment, &seg, d, &key(i), net.as_ref());
            counts.add(Kind::Views, &seg, d, 1);
        }
    }
    counts.flush().await.unwrap();
    let q = format!(
        "/v1/admin/reports/segments?from={}&to={}",
        civil_from_days(monday),
        civil_from_days(monday + 6)
    );
    let report: Value = app.admin_get(&q).await.json().await.unwrap();
    let savers = segment(&report, "savers");
    let weeks = savers["weeks"].as_array().unwrap();
    assert_eq!(weeks.len(), 1, "{savers}");
    let uniques = weeks[0]["uniques"].as_i64().unwrap();
    assert!((uniques - 2000).abs() <= 40, "union {uniques}, a sum would be 3000");
    assert_eq!(savers["views"], 3000);
    let days = savers["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert!((days[1]["uniques"].as_i64().unwrap() - 1000).abs() <= 20, "{savers}");
    assert_eq!(days[3]["suppressed"], true, "a day without visitors: {savers}");
}

#[tokio::test]
async fn report_parameters_are_validated() {
    let app = spawn_app().await;
    for (q, param) in [
        ("from=2026-11-22&to=2026-11-01", "from"),
        ("from=2024-01-01&to=2026-01-01", "to"),
        ("from=yesterday", "from"),
        ("to=2026-02-30", "to"),
    ] {
        let res = app.admin_get(&format!("/v1/admin/reports/segments?{q}")).await;
        assert_eq!(res.status(), 400, "{q}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"]["field"], param, "{q}");
    }
    let res = app.admin_get("/v1/admin/reports/experiments/no_such_experiment").await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "unknown_experiment"
    );
    let res = app
        .client
        .get(app.url("/v1/admin/reports/segments"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn conversions_land_on_the_arm_the_visitor_was_bucketed_into() {
    // Each visitor on its own network: k = 1 then releases every new unit, so the report is exact.
    let app = spawn_app_with(|s| {
        s.privacy.k = 1;
        s.server.client_ip_header = Some(personify::config::HeaderName::from_static("x-forwarded-for"));
    })
    .await;
    let views = page_views(&app, "https://bank.example/mortgages/fixed-rate", 0..240, "US").await;
    let mut exposed: HashMap<String, i64> = HashMap::new();
    let mut converted: HashMap<String, i64> = HashMap::new();
    for (i, v) in views.iter().enumerate() {
        let arm = v["decisions"]["hero"]["experiment"]["arm"]
            .as_str()
            .unwrap()
            .to_string();
        *exposed.entry(arm.clone()).or_default() += 1;
        if i % 3 == 0 {
            // The client claims another variant: the server recomputes the arm from the key.
            let body = json!({"type": "conversion", "goal": "mortgage_application", "experiment": "mortgage_hero_2026q4",
                              "variant": "mortgage_rates", "page": {"url": "https://bank.example/mortgages/apply/done"}, "visitor_id": vid(&format!("visitor-{i}"))});
            let res = app
                .client
                .post(app.url("/v1/events"))
                .header("CF-IPCountry", "US")
                .header("X-Forwarded-For", network(i as u64).to_string())
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
            let ack: Value = res.json().await.unwrap();
            assert_eq!(ack["experiment"]["arm"], arm.as_str());
            assert_eq!(ack["counted"], true);
            *converted.entry(arm).or_default() += 1;
        }
    }
    // Without a country header the visitor is opt-in: accepted, not counted.
    let res = app
        .client
        .post(app.url("/v1/events"))
        .json(&json!({"type": "conversion", "goal": "mortgage_application", "page": {"url": "https://bank.example/x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(res.json::<Value>().await.unwrap()["counted"], false);

    let report: Value = app
        .admin_get("/v1/admin/reports/experiments/mortgage_hero_2026q4")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["control"], "holdout");
    let arms = report["analysis"]["arms"].as_array().unwrap();
    for arm in arms {
        let label = arm["label"].as_str().unwrap();
        assert_eq!(arm["exposures"], exposed.get(label).copied().unwrap_or(0), "{label}");
        let goal = &arm["goals"][0];
        assert_eq!(goal["goal"], "mortgage_application");
        assert_eq!(
            goal["conversions"],
            converted.get(label).copied().unwrap_or(0),
            "{label}"
        );
        if label != "holdout" {
            assert!(goal["p_value"].is_number() && goal["interval"].is_array(), "{arm}");
        }
    }
    let labels: Vec<&str> = arms.iter().map(|a| a["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["holdout", "mortgage_rates", "mortgage_calculator"]);
}

#[tokio::test]
async fn event_bad_input_is_400() {
    let app = spawn_app().await;
    let base = json!({"type": "conversion", "goal": "signup", "page": {"url": "https://bank.example/"}});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, field) in [
        (with("type", json!("click")), "type"),
        (with("goal", json!("Sign Up!")), "goal"),
        (with("goal", json!("")), "goal"),
        (with("experiment", json!("nope")), "experiment"),
        (with("page", json!({})), "page.url"),
    ] {
        let res = app.post("/v1/events", &body).await;
        assert_eq!(res.status(), 400, "{body}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn a_graceful_shutdown_then_restart_keeps_every_count() {
    let Some(mut day) = ClosedDay::start(&[
        ("PERSONIFY__PRIVACY__K", "1"),
        ("PERSONIFY__COUNTS__FLUSH_SECONDS", "3600"),
    ]) else {
        return;
    };
    for i in 0..37 {
        let body =
            json!({"page": {"url": "https://bank.example/students/account"}, "visitor_id": vid(&format!("v-{i}"))});
        assert_eq!(day.app.decide(&body, Some("US")).await.status(), 200);
    }
    // The hourly timer has not run: only the final flush of the graceful stop writes the counts.
    day.next_morning();
    let report = day.day_report().await;
    assert_eq!(
        day_cell(&report, "students"),
        &json!({"date": DAY, "uniques": 37, "views": 37, "suppressed": false})
    );
}

#[tokio::test]
async fn noise_is_on_released_counts_fixed_per_cell_and_never_instead_of_suppression() {
    let Some(mut day) = ClosedDay::start(&[
        ("PERSONIFY__PRIVACY__K", "10"),
        ("PERSONIFY__PRIVACY__EPSILON", "0.5"),
        ("PERSONIFY__SERVER__CLIENT_IP_HEADER", "X-Forwarded-For"),
    ]) else {
        return;
    };
    let released = ["small_business", "savers", "mortgage_intent"];
    page_views(&day.app, "https://bank.example/business", 0..30, "US").await;
    page_views(&day.app, "https://bank.example/savings", 200..230, "US").await;
    page_views(&day.app, "https://bank.example/mortgages/fixed-rate", 300..330, "US").await;
    page_views(&day.app, "https://bank.example/students", 100..106, "US").await; // below k = 10
    day.next_morning();
    let first = day.day_report().await;
    assert_eq!(first["epsilon"], 0.5);
    let mut values = Vec::new();
    for id in released {
        let cell = day_cell(&first, id);
        for metric in ["uniques", "views"] {
            let v = cell[metric]
                .as_i64()
                .unwrap_or_else(|| panic!("{id} {metric}: {first}"));
            assert!((v - 30).abs() < 40, "{id} {metric}: {v}");
            values.push(v);
        }
    }
    // Six cells of 30: all six noise draws at 0 has probability 0.245⁶ ≈ 2·10⁻⁴.
    assert!(
        values.iter().any(|&v| v != 30),
        "noise never changed a count: {values:?}"
    );
    for _ in 0..8 {
        // The same cells every time: asking again draws no fresh noise to average away.
        assert_eq!(day.day_report().await, first);
    }
    // Noise comes on top of suppression, never instead: the small row is withheld.
    assert_eq!(
        day_cell(&first, "students"),
        &json!({"date": DAY, "uniques": null, "views": null, "suppressed": true})
    );
}

#[tokio::test]
async fn the_rtb_release_set_holds_rolling_seven_day_visitors_and_networks() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&format!("sqlite://{}/p.db", dir.path().display()))
        .await
        .unwrap();
    let counts = Counts::new(store, "n".into());
    let now = SystemTime::now();
    counts.refresh_network_salts(now).await.unwrap();
    let today = utc_day(now);
    let seg: Arc<str> = "savers".into();
    // Day -8 is outside the 7-day window; days -6..=0 overlap. Every visitor has its own network.
    for (d, range) in [
        (today - 8, 5000..9000),
        (today - 6, 0..300),
        (today - 3, 200..500),
        (today, 400..600),
    ] {
        for i in range {
            let net = counts.network_key(Some(network(i)), now);
            counts.seen(Kind::Segment, &seg, d, &key(i), net.as_ref());
        }
    }
    counts.flush().await.unwrap();
    assert_eq!(counts.rolling_uniques("savers"), Seen::default());
    counts.refresh_release_set(today).await.unwrap();
    let u = counts.rolling_uniques("savers");
    assert!((u.visitors - 600.0).abs() < 12.0, "{u:?}");
    // Networks are counted per ISO week and the largest week taken: never more than the truth.
    assert!(u.networks >= 190.0 && u.networks < 612.0, "{u:?}");
    assert_eq!(counts.rolling_uniques("students"), Seen::default());
}
