//! Read-your-writes across nodes: a choice recorded on one node and the page view asked of another
//! at once, as the SDK sends it (the purposes the choice denies, and its receipt's leaf index). No
//! answer after a denial may personalise or count; a grant is waited for (50 ms at most). Two nodes
//! on one PostgreSQL database; ignored by a plain `cargo test` (run with `--ignored` and
//! PERSONIFY_TEST_POSTGRES_URL set, see the README).

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::helpers::machine::load_test;
use crate::helpers::pg::fresh_database;
use crate::helpers::*;

/// Runs of each kind (opt-out, withdrawal, grant).
const RUNS: usize = 1_000;
/// Runs in flight at once.
const AT_ONCE: usize = 8;

const ALL: [&str; 3] = ["personalize", "measure", "advertise"];

#[derive(Clone, Copy, Debug)]
enum Kind {
    OptOut,
    Withdrawal,
    Grant,
}

/// A page view of an EU visitor (opt-in: nothing applies without a choice) as the SDK sends it
/// right after a choice.
fn page_view(visitor: &str, withdrawn: &[&str], after: Option<u64>) -> Value {
    let mut consent = json!({});
    if !withdrawn.is_empty() {
        consent["withdrawn"] = json!(withdrawn);
    }
    if let Some(at) = after {
        consent["after"] = json!(at);
    }
    json!({"page": {"url": "https://bank.example/mortgages/fixed-rate"}, "visitor_id": visitor, "consent": consent})
}

/// `(personalize, measure)` of the answer.
async fn applied(node: &TestApp, body: &Value) -> (bool, bool) {
    let res = node.decide(body, Some("DE")).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.expect("json");
    let c = &v["consent"];
    (c["personalize"] == true, c["measure"] == true)
}

fn leaf(receipt: &Value) -> u64 {
    receipt["leaf_index"].as_u64().expect("leaf_index")
}

/// One run: the choice on `a`, the page view on `b` at once. Returns `(personalize, measure)`.
async fn run(a: &TestApp, b: &TestApp, kind: Kind, i: usize, assisted: bool) -> (bool, bool) {
    let visitor = vid(&format!("ryw-{kind:?}-{assisted}-{i}"));
    let grant = json!({"personalize": true, "measure": true, "advertise": true});
    if !matches!(kind, Kind::Grant) {
        // A visitor who had granted, and whose grant the other node already applied.
        let r = a.consent(&visitor, grant.clone()).await;
        assert_eq!(
            applied(b, &page_view(&visitor, &[], Some(leaf(&r)))).await,
            (true, true)
        );
    }
    let (receipt, withdrawn): (Value, &[&str]) = match kind {
        Kind::OptOut => {
            let res = a.post("/v1/opt-out", &json!({"visitor_id": visitor})).await;
            assert_eq!(res.status(), 201);
            (res.json().await.expect("receipt"), &ALL)
        }
        Kind::Withdrawal => {
            let kept = json!({"personalize": false, "measure": false, "advertise": true});
            (a.consent(&visitor, kept).await, &ALL[..2])
        }
        Kind::Grant => (a.consent(&visitor, grant).await, &[]),
    };
    let body = if assisted {
        page_view(&visitor, withdrawn, Some(leaf(&receipt)))
    } else {
        page_view(&visitor, &[], None)
    };
    applied(b, &body).await
}

/// `(personalised, counted)` answers over `runs` runs of `kind`.
async fn tally(a: &TestApp, b: &TestApp, kind: Kind, runs: usize, assisted: bool) -> (usize, usize) {
    let answers: Vec<(bool, bool)> = futures_util::stream::iter(0..runs)
        .map(|i| run(a, b, kind, i, assisted))
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    (
        answers.iter().filter(|a| a.0).count(),
        answers.iter().filter(|a| a.1).count(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PERSONIFY_TEST_POSTGRES_URL (see README)"]
async fn a_choice_made_on_one_node_holds_on_the_next_page_view_on_another() {
    let _load = load_test().await;
    let db = fresh_database().await;
    let a = spawn_app_with(|s| s.store.url = db.parse().expect("store url")).await;
    let b = spawn_app_with(|s| s.store.url = db.parse().expect("store url")).await;

    // Without the SDK's restatement, a node answers on what it has applied: how often that is the
    // stale grant shows what the restatement guards against (printed, not asserted: it depends
    // on how fast the announcement travels).
    let stale = tally(&a, &b, Kind::OptOut, 100, false).await;
    println!("unassisted opt-outs answered personalised/counted: {stale:?} of 100");

    for kind in [Kind::OptOut, Kind::Withdrawal] {
        let (personalised, counted) = tally(&a, &b, kind, RUNS, true).await;
        assert_eq!(
            (personalised, counted),
            (0, 0),
            "{kind:?}: answers that personalised or counted after the denial, of {RUNS}"
        );
    }
    // A grant is waited for at most 50 ms; two nodes on loopback apply it well within that.
    let (personalised, counted) = tally(&a, &b, Kind::Grant, RUNS, true).await;
    println!("grants answered personalised {personalised} and counted {counted} of {RUNS}");
    assert!(
        personalised >= RUNS * 95 / 100 && counted >= RUNS * 95 / 100,
        "grants seen by the other node: {personalised} personalised, {counted} counted of {RUNS}"
    );
}

#[tokio::test]
async fn a_restated_denial_is_honoured_and_a_position_beyond_the_log_only_waits() {
    let app = spawn_app().await;
    let visitor = vid("restated");
    app.consent(
        &visitor,
        json!({"personalize": true, "measure": true, "advertise": true}),
    )
    .await;
    assert_eq!(applied(&app, &page_view(&visitor, &[], None)).await, (true, true));
    // The page says the visitor withdrew measuring: this node has no such record, and obeys.
    let v: Value = app
        .decide(&page_view(&visitor, &["measure"], None), Some("DE"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            &v["consent"]["personalize"],
            &v["consent"]["measure"],
            &v["consent"]["basis"]
        ),
        (&json!(true), &json!(false), &json!("withdrawn"))
    );
    // A position no node has reached: the answer comes after the bounded wait, on what the node has.
    let started = std::time::Instant::now();
    assert_eq!(
        applied(&app, &page_view(&visitor, &[], Some(1_000_000))).await,
        (true, true)
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(50));
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"personify_consent_position_waits_total{outcome="timed_out"} 1"#),
        "{metrics}"
    );
    // A name that is not a purpose is refused, naming the field and not repeating the value.
    let res = app
        .decide(&page_view(&visitor, &["everything-xyz"], None), Some("DE"))
        .await;
    assert_eq!(res.status(), 400);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("consent.withdrawn") && !text.contains("everything-xyz"),
        "{text}"
    );
}
