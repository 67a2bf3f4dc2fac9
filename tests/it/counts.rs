//! Aggregates: HLL accuracy and merging, consent gating, k-suppression, unions over days, durability
//! across a graceful restart, and conversions on the arm the visitor was bucketed into.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use personify::domain::counts::report::civil_from_days;
use personify::domain::counts::{Kind, Seen, Sketch};
use personify::domain::privacy::utc_day;
use personify::engine::counter::Counts;
use personify::store::{self, SketchRow};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::process::Server;
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

fn row<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap()
}

#[tokio::test]
async fn visitors_without_measure_are_not_counted_and_small_rows_are_suppressed() {
    let app = spawn_app_with(|s| {
        s.privacy.k = 5;
        s.server.client_ip_header = Some(personify::config::HeaderName::from_static("x-forwarded-for"));
    })
    .await;
    page_views(&app, "https://bank.example/savings", 0..20, "DE").await; // opt-in, no consent: not counted
    page_views(&app, "https://bank.example/students", 0..3, "US").await; // below k = 5
    page_views(&app, "https://bank.example/business", 0..8, "US").await;
    let report: Value = app.admin_get("/v1/admin/reports/segments").await.json().await.unwrap();
    assert_eq!(report["k"], 5);
    assert_eq!(
        row(&report, "savers"),
        &json!({"id": "savers", "uniques": null, "views": null, "suppressed": true})
    );
    assert_eq!(row(&report, "students")["suppressed"], true);
    assert_eq!(row(&report, "students")["uniques"], Value::Null);
    assert_eq!(
        row(&report, "small_business"),
        &json!({"id": "small_business", "uniques": 8, "views": 8, "suppressed": false})
    );
}

#[tokio::test]
async fn uniques_over_three_days_with_overlapping_visitors_are_a_union() {
    let app = spawn_app().await; // the shipped k = 50
    let store = store::open(&format!("sqlite://{}/personify.db", app.data_dir.path().display()))
        .await
        .unwrap();
    let counts = Counts::new(store, "writer".into());
    let now = SystemTime::now();
    counts.refresh_network_salts(now).await.unwrap();
    let today = utc_day(now);
    let seg: Arc<str> = "savers".into();
    for (d, range) in [(today - 2, 0..1000), (today - 1, 500..1500), (today, 1000..2000)] {
        for i in range {
            let net = counts.network_key(Some(network(i)), now);
            counts.seen(Kind::Segment, &seg, d, &key(i), net.as_ref());
            counts.add(Kind::Views, &seg, d, 1);
        }
    }
    counts.flush().await.unwrap();
    let q = format!(
        "/v1/admin/reports/segments?from={}&to={}",
        civil_from_days(today - 2),
        civil_from_days(today)
    );
    let report: Value = app.admin_get(&q).await.json().await.unwrap();
    let uniques = row(&report, "savers")["uniques"].as_i64().unwrap();
    assert!((uniques - 2000).abs() <= 40, "union {uniques}, a sum would be 3000");
    assert_eq!(row(&report, "savers")["views"], 3000);
    let one_day: Value = app
        .admin_get(&format!(
            "/v1/admin/reports/segments?from={0}&to={0}",
            civil_from_days(today - 1)
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!((row(&one_day, "savers")["uniques"].as_i64().unwrap() - 1000).abs() <= 20);
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
    let app = spawn_app_with(|s| s.privacy.k = 1).await;
    let views = page_views(&app, "https://bank.example/mortgages/fixed-rate", 0..240, "US").await;
    let mut exposed: HashMap<String, u64> = HashMap::new();
    let mut converted: HashMap<String, u64> = HashMap::new();
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
        .admin_get("/v1/admin/reports/experiments/mortgage_hero_2026q4?goal=mortgage_application")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["control"], "holdout");
    for arm in report["arms"].as_array().unwrap() {
        let label = arm["arm"].as_str().unwrap();
        assert_eq!(
            arm["exposures"].as_u64().unwrap(),
            exposed.get(label).copied().unwrap_or(0),
            "{label}"
        );
        assert_eq!(
            arm["conversions"].as_u64().unwrap(),
            converted.get(label).copied().unwrap_or(0),
            "{label}"
        );
        if label != "holdout" {
            assert!(arm["p_value"].is_number() && arm["ci95"].is_array(), "{arm}");
        }
    }
    let labels: Vec<&str> = report["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["arm"].as_str().unwrap())
        .collect();
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
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("PERSONIFY__PRIVACY__K", "1"),
        ("PERSONIFY__COUNTS__FLUSH_SECONDS", "3600"),
        ("PERSONIFY_ADMIN_TOKEN", ADMIN_TOKEN),
    ];
    let server = Server::start(dir.path(), &env);
    let client = reqwest::Client::new();
    for i in 0..37 {
        let body =
            json!({"page": {"url": "https://bank.example/students/account"}, "visitor_id": vid(&format!("v-{i}"))});
        let res = client
            .post(format!("{}/v1/decide", server.base()))
            .header("CF-IPCountry", "US")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // SIGTERM: actix stops gracefully and the final flush writes what the hourly timer has not.
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut server = server;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while server.child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.log_text().contains("final flush done"), "{}", server.log_text());
    drop(server);

    let server = Server::start(dir.path(), &env);
    let report: Value = client
        .get(format!("{}/v1/admin/reports/segments", server.base()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        row(&report, "students"),
        &json!({"id": "students", "uniques": 37, "views": 37, "suppressed": false})
    );
}

#[tokio::test]
async fn noise_changes_released_counts_but_not_suppression() {
    let app = spawn_app_with(|s| {
        s.privacy.k = 10;
        s.privacy.epsilon = 0.5;
        s.server.client_ip_header = Some(personify::config::HeaderName::from_static("x-forwarded-for"));
    })
    .await;
    page_views(&app, "https://bank.example/business", 0..30, "US").await;
    page_views(&app, "https://bank.example/students", 100..106, "US").await; // below k = 10
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..8 {
        let report: Value = app.admin_get("/v1/admin/reports/segments").await.json().await.unwrap();
        assert_eq!(report["epsilon"], 0.5);
        seen.insert(row(&report, "small_business")["uniques"].as_i64().unwrap());
        // Noise comes on top of suppression, never instead: the small row is withheld every time.
        assert_eq!(
            row(&report, "students"),
            &json!({"id": "students", "uniques": null, "views": null, "suppressed": true})
        );
    }
    assert!(seen.len() > 1, "noise never changed the count: {seen:?}");
    assert!(seen.iter().all(|&u| (u - 30).abs() < 40), "{seen:?}");
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
