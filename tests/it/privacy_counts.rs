//! Attacks on k-anonymity, performed against the real server: invented visitor ids from one
//! address, one IPv6 /64 with many addresses, one address across a week of daily keys, and rare
//! conversions. Each is refused; a real spread of networks still crosses k (so the tests can fail).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use personify::domain::counts::report::{civil_from_days, k_anonymous};
use personify::domain::counts::Kind;
use personify::domain::privacy::utc_day;
use personify::engine::counter::Counts;
use personify::store;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::closed_day::{day_cell, ClosedDay, DAY};
use crate::helpers::machine::wait_for_flush;
use crate::helpers::*;

const RTB_TOKEN: &str = "rtb-partner-token-privacy-counts-31";

/// The shipped k (50), client addresses from `X-Forwarded-For`, fast flushes and release refreshes.
async fn app() -> TestApp {
    let sha = hex::encode(Sha256::digest(RTB_TOKEN.as_bytes()));
    spawn_app_with(|s| {
        s.server.client_ip_header = Some(personify::config::HeaderName::from_static("x-forwarded-for"));
        s.counts.flush_seconds = 1;
        s.counts.release_refresh_seconds = 1;
        s.auth.tokens = vec![personify::config::TokenSettings {
            name: "ssp".into(),
            sha256: sha.parse().expect("token hash"),
            scopes: vec!["rtb".parse().expect("scope")],
        }];
    })
    .await
}

/// One page view of `visitor` from `addr`, in an opt-out jurisdiction (everything is counted).
async fn view(app: &TestApp, path: &str, visitor: &str, addr: &str) {
    let body = json!({"page": {"url": format!("https://bank.example{path}")}, "visitor_id": vid(visitor)});
    let res = app.decide_with(&body, Some("US"), &[("X-Forwarded-For", addr)]).await;
    assert_eq!(res.status(), 200);
}

/// The server of [`app`] under libfaketime (the shipped k), for the segment report of a closed day;
/// `None` when libfaketime is missing.
fn closed_day() -> Option<ClosedDay> {
    ClosedDay::start(&[("PERSONIFY__SERVER__CLIENT_IP_HEADER", "X-Forwarded-For")])
}

/// `traffic`'s day cell of segment `id`, read the next morning.
async fn day_cell_after(mut day: ClosedDay, id: &str) -> Value {
    day.next_morning();
    let report = day.day_report().await;
    assert_eq!(report["k"], 50);
    day_cell(&report, id).clone()
}

/// What RTB releases for a US page view of `path`, after the release set has been refreshed.
async fn released(app: &TestApp, path: &str) -> Value {
    // Flush (1 s) then release-set refresh (1 s) must both have run.
    wait_for_flush().await;
    let bid = json!({
        "id": "b1",
        "site": {"domain": "bank.example", "page": format!("https://bank.example{path}")},
        "device": {"geo": {"country": "USA"}, "devicetype": 2},
        "regs": {"gdpr": 0}
    });
    let res = app
        .client
        .post(app.url("/v1/rtb/segments"))
        .bearer_auth(RTB_TOKEN)
        .json(&bid)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v["personify"]["released"].clone()
}

/// Three real visitors on their own networks, then 47 made-up ids from one address.
async fn invented_ids(app: &TestApp) {
    for (i, addr) in ["192.0.2.10", "198.51.100.20", "203.0.113.30"].iter().enumerate() {
        view(app, "/students/", &format!("real-visitor-{i}"), addr).await;
    }
    for i in 0..47 {
        view(app, "/students/", &format!("invented-visitor-{i:04}"), "203.0.113.77").await;
    }
}

#[tokio::test]
async fn invented_visitor_ids_from_one_address_are_suppressed_and_not_released_to_rtb() {
    let app = app().await;
    invented_ids(&app).await;
    assert!(!released(&app, "/students/")
        .await
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "students"));
    let Some(day) = closed_day() else { return };
    invented_ids(&day.app).await;
    assert_eq!(
        day_cell_after(day, "students").await,
        json!({"date": DAY, "uniques": null, "views": null, "suppressed": true})
    );
}

/// 60 visitors from one IPv6 /64.
async fn one_slash_64(app: &TestApp) {
    for i in 0..60u32 {
        let addr = format!("2001:db8:7:1::{:x}", 0x1000 + i);
        view(app, "/students/", &format!("v6-visitor-{i:04}"), &addr).await;
    }
}

#[tokio::test]
async fn many_addresses_in_one_ipv6_slash_64_count_as_one_network() {
    let app = app().await;
    one_slash_64(&app).await;
    assert!(!released(&app, "/students/")
        .await
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "students"));
    let Some(day) = closed_day() else { return };
    one_slash_64(&day.app).await;
    assert_eq!(day_cell_after(day, "students").await["suppressed"], true);
}

/// 50 visitors on 50 networks: 25 IPv4 /24s and 25 IPv6 /48s.
async fn spread(app: &TestApp) {
    for i in 0..50u32 {
        let addr = if i % 2 == 0 {
            format!("198.18.{i}.1")
        } else {
            format!("2001:db8:{:x}::1", 0x100 + i)
        };
        view(app, "/students/", &format!("spread-visitor-{i:04}"), &addr).await;
    }
}

#[tokio::test]
async fn real_visitors_from_k_networks_cross_the_threshold_in_reports_and_rtb() {
    let app = app().await;
    spread(&app).await;
    assert_eq!(released(&app, "/students/").await, json!(["students"]));
    let Some(day) = closed_day() else { return };
    spread(&day.app).await;
    assert_eq!(
        day_cell_after(day, "students").await,
        json!({"date": DAY, "uniques": 50, "views": 50, "suppressed": false})
    );
}

#[tokio::test]
async fn one_address_on_seven_days_is_one_network_not_seven() {
    // The days are written first, by a node of its own, so no running server rotates salts meanwhile.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/personify.db", dir.path().display());
    let counts = Counts::new(store::open(&url).await.unwrap(), "attacker-week".into());
    let addr: IpAddr = "203.0.113.77".parse().unwrap();
    let today = utc_day(SystemTime::now());
    // The ISO week before last (closed whatever the time of day; day 0 was a Thursday) through today.
    let monday = today - (today + 3).rem_euclid(7) - 14;
    let seg: Arc<str> = "students".into();
    // 50 fresh visitor ids a day from one address, each day keyed as that day would be.
    for day in monday..=today {
        let noon = UNIX_EPOCH + Duration::from_secs(day as u64 * 86_400 + 43_200);
        counts.refresh_network_salts(noon).await.unwrap();
        let net = counts.network_key(Some(addr), noon);
        assert!(net.is_some());
        for i in 0..50u64 {
            let visitor: [u8; 32] = Sha256::digest(format!("{day}-{i}")).into();
            counts.seen(Kind::Segment, &seg, day, &visitor, net.as_ref());
        }
    }
    counts.flush().await.unwrap();
    counts.refresh_release_set(today).await.unwrap();
    let seen = counts.rolling_uniques("students");
    assert!(seen.visitors > 340.0, "{seen:?}");
    assert!(seen.networks < 1.5, "one address became {} networks", seen.networks);
    // k = 7: seven networks, one a day, would have crossed it.
    assert!(!k_anonymous(7, seen));

    let sha = hex::encode(Sha256::digest(RTB_TOKEN.as_bytes()));
    let app = spawn_app_with(|s| {
        s.privacy.k = 7;
        s.store.url = url.parse().expect("store url");
        s.counts.flush_seconds = 1;
        s.counts.release_refresh_seconds = 1;
        s.auth.tokens = vec![personify::config::TokenSettings {
            name: "ssp".into(),
            sha256: sha.parse().expect("token hash"),
            scopes: vec!["rtb".parse().expect("scope")],
        }];
    })
    .await;
    let q = format!(
        "/v1/admin/reports/segments?from={}&to={}",
        civil_from_days(monday),
        civil_from_days(monday + 6)
    );
    let report: Value = app.admin_get(&q).await.json().await.unwrap();
    let row = report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "students")
        .unwrap();
    // 350 visitors in the week, each day's 50 above k: only the one network holds them back.
    let week = &row["weeks"][0];
    assert_eq!(week["suppressed"], true, "{row}");
    assert_eq!(week["uniques"], Value::Null, "{row}");
    assert_eq!(row["suppressed_days"], 7, "{row}");
    assert!(!released(&app, "/students/")
        .await
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "students"));
}

/// 150 visitors of the mortgage experiment, each on its own network; those for whom `converts`
/// holds convert. Returns the report for the goal.
async fn experiment_report(k: u64, converts: impl Fn(u32) -> bool) -> Value {
    let app = spawn_app_with(|s| {
        s.privacy.k = k;
        s.server.client_ip_header = Some(personify::config::HeaderName::from_static("x-forwarded-for"));
    })
    .await;
    for i in 0..150u32 {
        let addr = format!("10.{}.{}.5", i / 200, i % 200);
        let visitor = format!("exp-visitor-{i:04}");
        let body = json!({"page": {"url": "https://bank.example/mortgages/fixed-rate"}, "visitor_id": vid(&visitor)});
        let res = app.decide_with(&body, Some("US"), &[("X-Forwarded-For", &addr)]).await;
        assert_eq!(res.status(), 200);
        if converts(i) {
            let event = json!({"type": "conversion", "goal": "mortgage_application", "experiment": "mortgage_hero_2026q4",
                               "page": {"url": "https://bank.example/mortgages/apply/done"}, "visitor_id": vid(&visitor)});
            let res = app
                .client
                .post(app.url("/v1/events"))
                .header("CF-IPCountry", "US")
                .header("X-Forwarded-For", &addr)
                .json(&event)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
        }
    }
    app.admin_get("/v1/admin/reports/experiments/mortgage_hero_2026q4")
        .await
        .json()
        .await
        .unwrap()
}

/// The arms of an experiment report.
fn arms(report: &Value) -> &Vec<Value> {
    report["analysis"]["arms"].as_array().unwrap()
}

#[tokio::test]
async fn conversions_below_k_are_null_and_so_is_everything_derived_from_them() {
    // Two converters in all: every arm's conversions are below k = 5.
    let report = experiment_report(5, |i| i < 2).await;
    assert_eq!(arms(&report).len(), 3, "{report}");
    for arm in arms(&report) {
        // Exposures (about 15 and 67 per arm) are at or above k and stay released.
        assert!(arm["exposures"].as_u64().unwrap() >= 5, "{arm}");
        let goal = &arm["goals"][0];
        assert_eq!(goal["goal"], "mortgage_application");
        for derived in [
            "conversions",
            "rate",
            "diff",
            "lift",
            "interval",
            "p_value",
            "adjusted_p_value",
            "adjusted_interval",
        ] {
            assert!(goal[derived].is_null(), "{derived} released below k: {arm}");
        }
    }
}

#[tokio::test]
async fn conversions_at_or_above_k_are_released_with_their_statistics() {
    // Every other visitor converts: each arm has well over k = 3 converters.
    let report = experiment_report(3, |i| i % 2 == 0).await;
    assert_eq!(arms(&report).len(), 3, "{report}");
    for arm in arms(&report) {
        let goal = &arm["goals"][0];
        let (n, x) = (
            arm["exposures"].as_u64().unwrap(),
            goal["conversions"].as_u64().unwrap(),
        );
        assert!(x >= 3 && x <= n, "{arm}");
        assert!(
            (goal["rate"].as_f64().unwrap() - x as f64 / n as f64).abs() < 1e-9,
            "{arm}"
        );
        if arm["label"] != "holdout" {
            assert!(goal["interval"].is_array() && goal["p_value"].is_number(), "{arm}");
            assert!(
                goal["adjusted_interval"].is_array() && goal["adjusted_p_value"].is_number(),
                "{arm}"
            );
        }
    }
}
