//! Several personify nodes on one PostgreSQL database, and a database that goes away. Ignored by a
//! plain `cargo test`: run with `--ignored` and PERSONIFY_TEST_POSTGRES_URL set (see the README).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::closed_day::{day_cell, libfaketime, DAY, NEXT_MORNING, NOON};
use crate::helpers::machine::{load_test, timing_test};
use crate::helpers::pg::{cut_off, fresh_database};
use crate::helpers::process::Server;
use crate::helpers::*;

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
    let _timing = timing_test().await;
    // At noon of a day, under libfaketime: a fourth node reads the day once it has closed.
    let Some(lib) = libfaketime() else { return };
    let db = fresh_database().await;
    // Started together: the secret and salts must still be created once.
    let nodes: Vec<Server> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| Server::start_on_at(&lib, &db, NOON, &ENV)))
            .collect();
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

    // A consent written on node 2 reaches node 1, and so does its erasure: node 1 forgets it (an
    // erased consent leaves a tombstone marker, read by the position of the erasure entry).
    let staying = json!({"page": {"url": "https://bank.example/savings"}, "visitor_id": vid("erased")});
    let basis_on_1 = || async {
        post(&client, &bases[1], "/v1/decide", &staying, Some("DE"))
            .await
            .json::<Value>()
            .await
            .unwrap()["consent"]["basis"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let until_on_1 = |want: &'static str, what: &'static str| {
        let basis_on_1 = &basis_on_1;
        async move {
            let started = Instant::now();
            while basis_on_1().await != want {
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "{what} not seen on another node within 2 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let consent = json!({"visitor_id": vid("erased"), "purposes": {"personalize": true, "measure": true, "advertise": true}, "source": "cmp", "policy_version": "2026-11"});
    assert_eq!(
        post(&client, &bases[2], "/v1/consent", &consent, None).await.status(),
        201
    );
    until_on_1("record", "a consent").await;
    let erase = json!({"visitor_id": vid("erased")});
    assert_eq!(
        post(&client, &bases[2], "/v1/consent/erase", &erase, None)
            .await
            .status(),
        200
    );
    until_on_1("jurisdiction_opt_in", "an erasure").await;

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
    let reader = Server::start_on_at(&lib, &db, NEXT_MORNING, &ENV);
    let report = admin(
        &client,
        &reader.base(),
        &format!("/v1/admin/reports/segments?from={DAY}&to={DAY}"),
    )
    .await;
    drop(reader);
    let students = day_cell(&report, "students");
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
    // The opt-out, the consent and erasure above, and the 30 racers.
    assert_eq!(v["entries"], 33);

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
    let _timing = timing_test().await;
    let Some(lib) = libfaketime() else { return };
    let db = fresh_database().await;
    let node = Server::start_on_at(&lib, &db, NOON, &ENV);
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
    // The node flushes every second; then a node of the next morning reads the closed day.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let reader = Server::start_on_at(&lib, &db, NEXT_MORNING, &ENV);
    let report = admin(
        &client,
        &reader.base(),
        &format!("/v1/admin/reports/segments?from={DAY}&to={DAY}"),
    )
    .await;
    let row = day_cell(&report, "small_business");
    assert_eq!(
        row["uniques"], 25,
        "counts made while the store was away were flushed after it came back: {row}"
    );
    assert_eq!(row["views"], 25);
}

/// Receipts from `per_task` consents in each of `tasks` tasks against `base`.
fn consent_burst(
    client: &reqwest::Client,
    base: &str,
    tag: &str,
    tasks: usize,
    per_task: usize,
) -> Vec<tokio::task::JoinHandle<Vec<Value>>> {
    (0..tasks)
        .map(|t| {
            let (client, base, tag) = (client.clone(), base.to_string(), tag.to_string());
            tokio::spawn(async move {
                let mut out = Vec::new();
                for i in 0..per_task {
                    let body = json!({"visitor_id": vid(&format!("{tag}-{t}-{i}")),
                        "purposes": {"personalize": i % 2 == 0, "measure": true, "advertise": i % 3 == 0},
                        "source": "cmp", "policy_version": "2026-11"});
                    let res = post(&client, &base, "/v1/consent", &body, None).await;
                    assert_eq!(res.status(), 201, "node {base}");
                    out.push(res.json::<Value>().await.unwrap());
                }
                out
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PERSONIFY_TEST_POSTGRES_URL (see README)"]
async fn two_nodes_writing_at_once_make_one_provable_log_and_enforce_each_others_choices() {
    let _load = load_test().await;
    use personify::domain::ledger::checkpoint::NoteVerifier;
    use personify::domain::ledger::offline::{self, InclusionProof};

    let db = fresh_database().await;
    let a = spawn_app_with(|s| {
        s.store.url = db.parse().expect("store url");
        s.consent.checkpoint_seconds = 1;
    })
    .await;
    let b = spawn_app_with(|s| {
        s.store.url = db.parse().expect("store url");
        s.consent.checkpoint_seconds = 1;
    })
    .await;
    let client = reqwest::Client::new();

    // 100 consents on each node from 4 tasks each, all at once.
    let mut handles = consent_burst(&client, &a.address, "node-a", 4, 25);
    handles.extend(consent_burst(&client, &b.address, "node-b", 4, 25));
    let mut receipts = Vec::new();
    for h in handles {
        receipts.extend(h.await.unwrap());
    }
    assert_eq!(receipts.len(), 200);
    let mut indices: Vec<u64> = receipts.iter().map(|r| r["leaf_index"].as_u64().unwrap()).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..200).collect::<Vec<u64>>(), "one log, consecutive indices");

    for app in [&a, &b] {
        let v = admin(&client, &app.address, "/v1/admin/consent/verify").await;
        assert_eq!(
            (v["ok"].as_bool(), v["state"].as_str(), v["entries"].as_u64()),
            (Some(true), Some("consistent"), Some(200)),
            "{v}"
        );
    }

    // A checkpoint covering all 200, and every receipt proved against it (asked of either node).
    let started = Instant::now();
    let note = loop {
        let res = client
            .get(format!("{}/v1/consent/log/checkpoint", b.address))
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            let note = res.text().await.unwrap();
            if note.lines().nth(1) == Some("200") {
                break note;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no checkpoint of 200 entries within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let vkey = client
        .get(format!("{}/v1/consent/log/public-key", a.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = NoteVerifier::parse(&vkey).unwrap();
    for (i, r) in receipts.iter().enumerate() {
        let base = if i % 2 == 0 { &a.address } else { &b.address };
        let proof: InclusionProof = client
            .get(format!("{base}{}?tree_size=200", r["proof"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(proof.leaf_index, r["leaf_index"].as_u64().unwrap());
        offline::verify_receipt(&proof, &note, &key).unwrap_or_else(|e| panic!("receipt {}: {e}", proof.leaf_index));
    }

    // A consent written on A is enforced by B, and an opt-out written on B by A.
    let visitor = vid("crossing");
    let body = json!({"page": {"url": "https://bank.example/mortgages"}, "visitor_id": visitor});
    let basis = |base: String| {
        let (client, body) = (client.clone(), body.clone());
        async move {
            let v: Value = post(&client, &base, "/v1/decide", &body, Some("DE"))
                .await
                .json()
                .await
                .unwrap();
            v["consent"].clone()
        }
    };
    assert_eq!(basis(b.address.clone()).await["basis"], "jurisdiction_opt_in");
    let consent = json!({"visitor_id": visitor, "purposes": {"personalize": true, "measure": true, "advertise": true},
        "source": "cmp", "policy_version": "2026-11"});
    assert_eq!(
        post(&client, &a.address, "/v1/consent", &consent, None).await.status(),
        201
    );
    let started = Instant::now();
    loop {
        let c = basis(b.address.clone()).await;
        if c["basis"] == "record" {
            assert_eq!(c["advertise"], true, "{c}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "node B did not enforce A's consent within 10 s: {c}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        post(
            &client,
            &b.address,
            "/v1/opt-out",
            &json!({"visitor_id": visitor}),
            None
        )
        .await
        .status(),
        201
    );
    let started = Instant::now();
    loop {
        let c = basis(a.address.clone()).await;
        if c["basis"] == "opt_out" {
            assert_eq!(c["advertise"], false, "{c}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "node A did not enforce B's opt-out within 10 s: {c}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
