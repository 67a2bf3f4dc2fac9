//! Several personify nodes on one PostgreSQL database, and a database that goes away. Ignored by a
//! plain `cargo test`: run with `--ignored` and PERSONIFY_TEST_POSTGRES_URL set (see the README).

mod common;

use std::time::{Duration, Instant};

use common::pg::{cut_off, fresh_database};
use common::process::Server;
use common::*;
use serde_json::{json, Value};

const ENV: [(&str, &str); 4] = [
    ("PERSONIFY__PRIVACY__K", "1"),
    ("PERSONIFY__COUNTS__FLUSH_SECONDS", "1"),
    ("PERSONIFY_ADMIN_TOKEN", ADMIN_TOKEN),
    ("PERSONIFY__SERVER__WORKERS", "1"),
];

async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: &Value,
    country: Option<&str>,
) -> reqwest::Response {
    let mut req = client.post(format!("{base}{path}")).json(body);
    if let Some(c) = country {
        req = req.header("CF-IPCountry", c);
    }
    req.send().await.unwrap()
}

async fn admin(client: &reqwest::Client, base: &str, path: &str) -> Value {
    client
        .get(format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs PERSONIFY_TEST_POSTGRES_URL (see README)"]
async fn three_nodes_share_keys_consent_counts_and_one_log() {
    let db = fresh_database().await;
    // Started together: the secret and salts must still be created once.
    let nodes: Vec<Server> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| Server::start_on(&db, &ENV))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let bases: Vec<String> = nodes.iter().map(Server::base).collect();
    let client = reqwest::Client::new();

    // The same visitor gets the same key everywhere: the same experiment arm on every node.
    for i in 0..12 {
        let body = json!({"page": {"url": "https://bank.example/mortgages/fixed-rate"}, "visitor_id": vid(&format!("same-{i}"))});
        let mut arms = Vec::new();
        for b in &bases {
            let v: Value = post(&client, b, "/v1/decide", &body, Some("US"))
                .await
                .json()
                .await
                .unwrap();
            arms.push(v["decisions"]["hero"]["experiment"]["arm"].clone());
        }
        assert!(arms.windows(2).all(|w| w[0] == w[1]), "{arms:?}");
    }

    // An opt-out written on node 0 is enforced by node 1 within a second.
    let body = json!({"page": {"url": "https://bank.example/savings"}, "visitor_id": vid("leaving")});
    assert_eq!(
        post(&client, &bases[1], "/v1/decide", &body, Some("US"))
            .await
            .json::<Value>()
            .await
            .unwrap()["consent"]["basis"],
        "jurisdiction_opt_out"
    );
    let started = Instant::now();
    assert_eq!(
        post(
            &client,
            &bases[0],
            "/v1/opt-out",
            &json!({"visitor_id": vid("leaving")}),
            None
        )
        .await
        .status(),
        201
    );
    loop {
        let v: Value = post(&client, &bases[1], "/v1/decide", &body, Some("US"))
            .await
            .json()
            .await
            .unwrap();
        if v["consent"]["basis"] == "opt_out" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "opt-out not enforced on another node within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("opt-out reached another node in {:?}", started.elapsed());

    // Merged uniques: 0..300 on node 0, 200..500 on node 1, 400..600 on node 2 → 600 distinct.
    for (n, range) in [(0usize, 0..300), (1, 200..500), (2, 400..600)] {
        for i in range {
            let body =
                json!({"page": {"url": "https://bank.example/students/account"}, "visitor_id": vid(&format!("u-{i}"))});
            assert_eq!(
                post(&client, &bases[n], "/v1/decide", &body, Some("US")).await.status(),
                200
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let report = admin(&client, &bases[2], "/v1/admin/reports/segments").await;
    let students = report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "students")
        .unwrap();
    let u = students["uniques"].as_f64().unwrap();
    assert!((u - 600.0).abs() / 600.0 < 0.03, "merged uniques {u}");
    assert_eq!(students["views"], 800);

    // Consent writes racing on every node make one chain.
    let mut tasks = Vec::new();
    for i in 0..30 {
        let (client, base) = (client.clone(), bases[i % 3].clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"visitor_id": vid(&format!("racer-{i}")), "purposes": {"measure": true}, "source": "cmp", "policy_version": "2026-11"});
            post(&client, &base, "/v1/consent", &body, None).await.status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let v = admin(&client, &bases[1], "/v1/admin/consent/verify").await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["entries"], 31);

    // A node killed with -9 loses nothing it acknowledged.
    let mut nodes = nodes;
    let victim = nodes.pop().unwrap();
    let receipt: Value = post(&client, &victim.base(), "/v1/consent", &json!({"visitor_id": vid("survivor"), "purposes": {"personalize": true}, "source": "cmp", "policy_version": "2026-11"}), None)
        .await
        .json()
        .await
        .unwrap();
    victim.kill_9();
    let status: Value = post(
        &client,
        &bases[0],
        "/v1/consent/status",
        &json!({"visitor_id": vid("survivor")}),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(status["receipts"][0]["receipt_id"], receipt["receipt_id"]);
    assert_eq!(admin(&client, &bases[0], "/v1/admin/consent/verify").await["ok"], true);
}

#[tokio::test]
#[ignore = "needs PERSONIFY_TEST_POSTGRES_URL (see README)"]
async fn when_postgres_goes_away_decisions_continue_consent_writes_503_and_counts_wait() {
    let db = fresh_database().await;
    let node = Server::start_on(&db, &ENV);
    let base = node.base();
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);

    cut_off(&db, false).await;
    let consent =
        json!({"visitor_id": vid("v"), "purposes": {"measure": true}, "source": "cmp", "policy_version": "2026-11"});
    let res = post(&client, &base, "/v1/consent", &consent, None).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "store_unavailable");
    for i in 0..25 {
        let body =
            json!({"page": {"url": "https://bank.example/business/loans"}, "visitor_id": vid(&format!("b-{i}"))});
        let res = post(&client, &base, "/v1/decide", &body, Some("US")).await;
        assert_eq!(res.status(), 200, "decisions must be served while the store is away");
    }
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.json::<Value>().await.unwrap()["store"], "unavailable");
    tokio::time::sleep(Duration::from_millis(1500)).await; // at least one failed flush

    cut_off(&db, true).await;
    let started = Instant::now();
    loop {
        if client.get(format!("{base}/readyz")).send().await.unwrap().status() == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "store did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(post(&client, &base, "/v1/consent", &consent, None).await.status(), 201);
    let report = admin(&client, &base, "/v1/admin/reports/segments").await;
    let row = report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "small_business")
        .unwrap();
    assert_eq!(
        row["uniques"], 25,
        "counts made while the store was away were flushed after it came back: {row}"
    );
    assert_eq!(row["views"], 25);
}
