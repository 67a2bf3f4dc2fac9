//! Group commit under load on the embedded SQLite store: concurrent consent writes are all
//! acknowledged and all land in the log, and a mixed burst of every kind of request (with the
//! sketch flush writing every second) gets no 5xx. Counts, not timings, are asserted.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::machine::load_test;
use crate::helpers::*;

async fn load_app() -> TestApp {
    spawn_app_with(|s| {
        s.server.workers = 2;
        s.consent.checkpoint_seconds = 1;
        s.counts.flush_seconds = 1;
    })
    .await
}

fn consent_body(visitor: &str, i: usize) -> Value {
    json!({"visitor_id": vid(visitor),
        "purposes": {"personalize": i % 2 == 0, "measure": i % 3 == 0, "advertise": i % 5 == 0},
        "source": "banner", "policy_version": "2026-11"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_consents_are_all_acknowledged_and_all_logged() {
    let _load = load_test().await;
    let app = load_app().await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (client, url) = (app.client.clone(), app.url("/v1/consent"));
            tokio::spawn(async move {
                let res = client
                    .post(url)
                    .json(&consent_body(&format!("burst-{i}"), i))
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                (status, body)
            })
        })
        .collect();
    let mut receipts = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 201, "{body}");
        receipts.push(body);
    }
    let indices: HashSet<u64> = receipts.iter().map(|r| r["leaf_index"].as_u64().unwrap()).collect();
    assert_eq!(indices.len(), 200, "every receipt names its own entry");
    assert_eq!(indices.iter().max(), Some(&199));
    let ids: HashSet<&str> = receipts.iter().map(|r| r["receipt_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 200);

    let log: Value = app
        .admin_get("/v1/admin/consent/log?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 200);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["index"], i as u64);
        assert!(ids.contains(e["receipt_id"].as_str().unwrap()), "{e}");
    }
    let v: Value = app.admin_get("/v1/admin/consent/verify").await.json().await.unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["entries"].as_u64(), v["records_checked"].as_u64()),
        (Some(true), Some(200), Some(200)),
        "{v}"
    );
}

/// One request of the mixed burst; returns (kind, status).
async fn one(client: &reqwest::Client, base: &str, kind: usize, n: usize) -> (usize, u16) {
    let visitor = vid(&format!("mixed-{}", n % 500));
    let req = match kind {
        0 => client
            .post(format!("{base}/v1/decide"))
            .header("User-Agent", DESKTOP_UA)
            .header("CF-IPCountry", if n % 2 == 0 { "US" } else { "DE" })
            .json(&json!({"page": {"url": "https://bank.example/mortgages/fixed-rate"}, "visitor_id": visitor})),
        1 => client
            .post(format!("{base}/v1/events"))
            .header("User-Agent", DESKTOP_UA)
            .header("CF-IPCountry", "US")
            .json(&json!({"type": "conversion", "goal": "mortgage_application",
                "page": {"url": "https://bank.example/mortgages/apply/done"}, "visitor_id": visitor})),
        2 => client
            .post(format!("{base}/v1/consent"))
            .json(&consent_body(&format!("mixed-consent-{n}"), n)),
        3 => client
            .post(format!("{base}/v1/opt-out"))
            .json(&json!({"visitor_id": vid(&format!("mixed-out-{n}"))})),
        _ => client
            .post(format!("{base}/v1/rtb/segments"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({
                "id": format!("bid-{n}"),
                "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
                "site": {"page": "https://bank.example/mortgages"},
                "device": {"ua": DESKTOP_UA, "geo": {"country": "USA"}}
            })),
    };
    match req.send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            if status >= 400 {
                let body = res.text().await.unwrap_or_default();
                eprintln!("kind {kind}: HTTP {status}: {body}");
            }
            (kind, status)
        }
        Err(e) => {
            eprintln!("kind {kind}: {e:?}");
            (kind, 599)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_burst_of_decide_events_consent_and_rtb_gets_no_5xx() {
    let _load = load_test().await;
    let app = load_app().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let workers: Vec<_> = (0..16)
        .map(|w| {
            // A fresh connection per request: on this shared 2-core machine, reused keep-alive
            // connections sometimes met actix's 5 s request-head timer (408, or a reset) while
            // the process was starved, which says nothing about the store (actix-web #1269).
            let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
            let base = app.address.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut n = w * 1_000_000;
                while Instant::now() < deadline {
                    seen.push(one(&client, &base, (n + w) % 5, n).await);
                    n += 1;
                }
                seen
            })
        })
        .collect();
    // Per kind: 2xx, 4xx other than 408, 5xx, and 408s or dropped connections. The last are
    // counted, not failed: on this shared machine actix's 5 s request-head timer sometimes fires
    // before a starved client has written its request (hyper then sees the 408 as an unexpected
    // message); nothing reached a handler or the store.
    let mut by_kind = [[0u64; 4]; 5];
    for w in workers {
        for (kind, status) in w.await.unwrap() {
            by_kind[kind][match status {
                200..=299 => 0,
                408 | 599 => 3,
                400..=499 => 1,
                _ => 2,
            }] += 1;
        }
    }
    let names = ["decide", "events", "consent", "opt-out", "rtb"];
    for (kind, counts) in by_kind.iter().enumerate() {
        eprintln!(
            "{}: {} 2xx, {} 4xx, {} 5xx, {} timed out before the request head",
            names[kind], counts[0], counts[1], counts[2], counts[3]
        );
        assert!(counts[0] > 0, "{}: no request succeeded: {counts:?}", names[kind]);
        assert_eq!(counts[1], 0, "{}: refused requests: {counts:?}", names[kind]);
        assert_eq!(counts[2], 0, "{}: server errors under load: {counts:?}", names[kind]);
    }
    // Every acknowledged write is in a log that still verifies.
    let written = by_kind[2][0] + by_kind[3][0];
    let unanswered = by_kind[2][3] + by_kind[3][3];
    let v: Value = app.admin_get("/v1/admin/consent/verify").await.json().await.unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let entries = v["entries"].as_u64().unwrap();
    assert!(
        (written..=written + unanswered).contains(&entries),
        "{written} writes acknowledged, {unanswered} unanswered, {entries} in the log"
    );
}
