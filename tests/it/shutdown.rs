//! Shutdown under load: SIGTERM turns `/readyz` to 503 while the node keeps serving for
//! `server.drain_seconds`, then it stops gracefully and flushes; nothing fails and nothing counted
//! is lost.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::closed_day::{day_cell, libfaketime, DAY, NEXT_MORNING, NOON};
use crate::helpers::machine::load_test;
use crate::helpers::process::Server;
use crate::helpers::{vid, ADMIN_TOKEN};

const ENV: [(&str, &str); 5] = [
    ("PERSONIFY__PRIVACY__K", "1"),
    ("PERSONIFY__COUNTS__FLUSH_SECONDS", "3600"),
    ("PERSONIFY_ADMIN_TOKEN", ADMIN_TOKEN),
    ("PERSONIFY__SERVER__DRAIN_SECONDS", "3"),
    ("PERSONIFY__SERVER__WORKERS", "2"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_under_load_then_stops_and_every_decision_is_in_the_reports() {
    let _load = load_test().await;
    // Under libfaketime: the day's counts are reported once it has closed, after the restart.
    let Some(lib) = libfaketime() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/personify.db", dir.path().display());
    let mut server = Server::start_on_at(&lib, &store, NOON, &ENV);
    let base = server.base();
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let draining = Arc::new(AtomicBool::new(false));
    let (ok, ok_while_draining) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let load: Vec<_> = (0..4)
        .map(|worker| {
            let (client, base, stop, draining) = (client.clone(), base.clone(), stop.clone(), draining.clone());
            let (ok, ok_while_draining, failures) = (ok.clone(), ok_while_draining.clone(), failures.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let body = json!({"page": {"url": "https://bank.example/students/account"},
                        "visitor_id": vid(&format!("drain-{worker}-{i}"))});
                    let res = client
                        .post(format!("{base}/v1/decide"))
                        .header("CF-IPCountry", "US")
                        .json(&body)
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status() == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            if draining.load(Ordering::Relaxed) {
                                ok_while_draining.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok(r) => failures.lock().unwrap().push(format!("status {}", r.status())),
                        Err(e) => failures.lock().unwrap().push(e.to_string()),
                    }
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());

    // Readiness goes first: 503 while the decisions keep being answered.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = client.get(format!("{base}/readyz")).send().await.unwrap();
        if res.status() == 503 {
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["status"], "draining");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readyz never answered 503: {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    draining.store(true, Ordering::Relaxed);
    // Well inside the 3 s drain: the load balancer would have stopped sending by now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert_eq!(
        *failures.lock().unwrap(),
        Vec::<String>::new(),
        "a request failed during the drain"
    );
    assert!(
        ok_while_draining.load(Ordering::Relaxed) > 0,
        "nothing was served while draining"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    while server.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "server did not stop: {}", server.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.log_text().contains("final flush done"), "{}", server.log_text());
    drop(server);

    // Every decision made before the stop is in the reports after a restart, once the day closed.
    let server = Server::start_on_at(&lib, &store, NEXT_MORNING, &ENV);
    let report: Value = client
        .get(format!(
            "{}/v1/admin/reports/segments?from={DAY}&to={DAY}",
            server.base()
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = day_cell(&report, "students");
    let made = ok.load(Ordering::Relaxed);
    assert_eq!(row["views"], made, "{row}");
    let uniques = row["uniques"].as_f64().unwrap();
    assert!(
        (uniques - made as f64).abs() <= made as f64 * 0.01 + 1.0,
        "{row} vs {made}"
    );
}

#[tokio::test]
async fn sigint_stops_without_a_drain() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[("PERSONIFY__SERVER__DRAIN_SECONDS", "600")]);
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "SIGINT waited for the drain: {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.log_text().contains("final flush done"), "{}", server.log_text());
}
