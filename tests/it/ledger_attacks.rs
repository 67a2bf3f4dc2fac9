//! The consent log attacked as someone with write access to the data directory would: each attack
//! must be caught by `verify`, by an old checkpoint's consistency proof, or by the signature.

use std::time::Duration;

use personify::domain::consent::{ConsentBook, Purposes, Record};
use personify::domain::ledger::checkpoint::{LogKey, NoteVerifier};
use personify::domain::ledger::merkle::MemoryTree;
use personify::domain::ledger::offline::{self, ConsistencyProof, InclusionProof, OfflineError};
use personify::domain::ledger::Checkpoint;
use personify::domain::privacy::ConsentSubject;
use personify::engine::consent::sync;
use personify::store;
use serde_json::{json, Value};
use sqlx::{Row, SqlitePool};

use crate::helpers::*;

async fn app() -> TestApp {
    spawn_app_with(|s| s.consent.checkpoint_seconds = 1).await
}

async fn consents(app: &TestApp, n: usize, tag: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            app.consent(
                &vid(&format!("{tag}-{i}")),
                json!({"personalize": true, "measure": i % 2 == 0, "advertise": false}),
            )
            .await,
        );
    }
    out
}

async fn text(app: &TestApp, path: &str) -> (u16, String) {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Waits until the newest checkpoint covers `size` entries; returns its note.
async fn checkpoint_of(app: &TestApp, size: u64) -> String {
    for _ in 0..100 {
        let (status, note) = text(app, "/v1/consent/log/checkpoint").await;
        if status == 200 && note.lines().nth(1) == Some(&size.to_string()) {
            return note;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no checkpoint of size {size} within 10 s");
}

async fn vkey(app: &TestApp) -> NoteVerifier {
    NoteVerifier::parse(&text(app, "/v1/consent/log/public-key").await.1).unwrap()
}

async fn verify(app: &TestApp) -> Value {
    app.admin_get("/v1/admin/consent/verify").await.json().await.unwrap()
}

async fn db(app: &TestApp) -> SqlitePool {
    SqlitePool::connect(&format!("sqlite://{}/personify.db", app.data_dir.path().display()))
        .await
        .unwrap()
}

fn kinds(v: &Value) -> Vec<String> {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect()
}

/// The consent basis a page view of `visitor` in Germany is decided on.
async fn basis_in_de(app: &TestApp, visitor: &str) -> String {
    let d: Value = app
        .decide(
            &json!({"page": {"url": "https://bank.example/mortgages"}, "visitor_id": visitor}),
            Some("DE"),
        )
        .await
        .json()
        .await
        .unwrap();
    d["consent"]["basis"].as_str().unwrap_or_default().to_string()
}

/// The attacker's tool: after editing leaves, recompute every leaf hash and every stored subtree
/// so the database is internally consistent again.
async fn rehash_everything(app: &TestApp, pool: &SqlitePool) {
    let store = store::open(&format!("sqlite://{}/personify.db", app.data_dir.path().display()))
        .await
        .unwrap();
    let rows = store.consent_log(0, 1000).await.unwrap();
    let mut tree = MemoryTree::new();
    sqlx::query("DELETE FROM consent_subtrees").execute(pool).await.unwrap();
    for r in rows {
        let h = r.entry.recomputed_hash().unwrap();
        sqlx::query("UPDATE consent_leaves SET leaf_hash = ? WHERE idx = ?")
            .bind(h.to_vec())
            .bind(r.entry.index as i64)
            .execute(pool)
            .await
            .unwrap();
        for (level, idx, hash) in tree.push(h) {
            sqlx::query("INSERT INTO consent_subtrees (level, idx, hash) VALUES (?, ?, ?)")
                .bind(i64::from(level))
                .bind(idx as i64)
                .bind(hash.to_vec())
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

async fn unguard(pool: &SqlitePool) {
    for t in ["consent_leaves_no_update", "consent_leaves_no_delete"] {
        sqlx::query(&format!("DROP TRIGGER {t}")).execute(pool).await.unwrap();
    }
}

#[tokio::test]
async fn an_honest_log_verifies_and_its_receipts_and_checkpoints_prove_themselves() {
    let app = app().await;
    let receipts = consents(&app, 6, "honest").await;
    let old = checkpoint_of(&app, 6).await;
    let key = vkey(&app).await;
    let proof: InclusionProof = app
        .client
        .get(app.url(receipts[3]["proof"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((proof.leaf_index, proof.tree_size), (3, 6));
    assert!(proof.leaf.contains("\npersonalize 1\n"), "{}", proof.leaf);
    offline::verify_receipt(&proof, &old, &key).unwrap();

    consents(&app, 3, "more").await;
    let new = checkpoint_of(&app, 9).await;
    let c: ConsistencyProof = app
        .client
        .get(app.url("/v1/consent/log/consistency?first=6&second=9"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    offline::verify_extends(&old, &new, Some(&c), &key).unwrap();
    let v = verify(&app).await;
    assert_eq!(
        (v["ok"].as_bool(), v["state"].as_str()),
        (Some(true), Some("consistent")),
        "{v}"
    );
    assert_eq!(v["entries"], 9);

    // Bad requests are named, never echoed.
    for (path, status) in [
        ("/v1/consent/receipts/zzzz/proof", 400),
        ("/v1/consent/receipts/00000000000000000000000000000000/proof", 404),
        ("/v1/consent/log/consistency?first=7&second=3", 400),
        ("/v1/consent/log/consistency?first=1", 400),
        (&format!("{}?tree_size=2", receipts[3]["proof"].as_str().unwrap()), 404),
    ] {
        assert_eq!(text(&app, path).await.0, status, "{path}");
    }
}

#[tokio::test]
async fn rewriting_an_entry_and_rehashing_everything_is_caught_by_the_checkpoints() {
    let app = app().await;
    consents(&app, 5, "rewrite").await;
    let old = checkpoint_of(&app, 5).await;
    let key = vkey(&app).await;
    let pool = db(&app).await;
    unguard(&pool).await;
    sqlx::query("UPDATE consent_leaves SET advertise = 1 WHERE idx = 2")
        .execute(&pool)
        .await
        .unwrap();
    rehash_everything(&app, &pool).await;
    sqlx::query("UPDATE consent_records SET advertise = 1 WHERE pos = 2")
        .execute(&pool)
        .await
        .unwrap();
    let v = verify(&app).await;
    assert_eq!(v["state"], "inconsistent", "{v}");
    let k = kinds(&v);
    assert!(
        !k.is_empty() && k.iter().all(|k| k == "checkpoint_mismatch"),
        "only the signature can tell: {v}"
    );

    // Anyone holding the old checkpoint catches it too, once the log is checkpointed again.
    consents(&app, 1, "after").await;
    let new = checkpoint_of(&app, 6).await;
    let c: ConsistencyProof = app
        .client
        .get(app.url("/v1/consent/log/consistency?first=5&second=6"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(matches!(
        offline::verify_extends(&old, &new, Some(&c), &key),
        Err(OfflineError::Inconsistent { .. })
    ));
}

#[tokio::test]
async fn truncating_the_log_is_reported_as_behind_the_checkpoint() {
    let app = app().await;
    consents(&app, 5, "trunc").await;
    checkpoint_of(&app, 5).await;
    let pool = db(&app).await;
    unguard(&pool).await;
    for sql in [
        "DELETE FROM consent_leaves WHERE idx >= 3",
        "DELETE FROM consent_subjects WHERE idx >= 3",
        "DELETE FROM consent_records WHERE pos >= 3",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    let v = verify(&app).await;
    assert_eq!(v["ok"], false);
    assert_eq!(v["state"], "behind_checkpoint", "{v}");
    assert_eq!(v["behind"], json!({"checkpoint_size": 5, "missing": 2}));
    assert_eq!(v["reason"], "behind checkpoint 5 by 2 entries");
}

#[tokio::test]
async fn reordering_entries_is_caught() {
    let app = app().await;
    consents(&app, 4, "order").await;
    let pool = db(&app).await;
    unguard(&pool).await;
    // Swap entries 1 and 2 whole, hashes included.
    for sql in [
        "UPDATE consent_leaves SET idx = 100 WHERE idx = 1",
        "UPDATE consent_leaves SET idx = 1 WHERE idx = 2",
        "UPDATE consent_leaves SET idx = 2 WHERE idx = 100",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    let v = verify(&app).await;
    assert_eq!(v["state"], "inconsistent", "{v}");
    assert!(kinds(&v).contains(&"entry_altered".to_string()), "{v}");
}

#[tokio::test]
async fn editing_the_enforced_table_is_reported_and_a_restart_enforces_the_log() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/personify.db", data.path().display());
    let visitor = vid("edited");
    {
        let app = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
        app.post("/v1/opt-out", &json!({"visitor_id": visitor})).await;
        let pool = SqlitePool::connect(&url).await.unwrap();
        sqlx::query("UPDATE consent_records SET opted_out = 0, personalize = 1, measure = 1, advertise = 1")
            .execute(&pool)
            .await
            .unwrap();
        let v = verify(&app).await;
        assert_eq!(v["state"], "inconsistent");
        assert_eq!(kinds(&v), ["record_differs"]);
    }
    // A node starting on the edited file rebuilds what it enforces from the log: still opted out.
    let app = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
    assert_eq!(basis_in_de(&app, &visitor).await, "opt_out");
}

/// The keyed hash of the one visitor whose record matches `filter`, as the table holds it.
async fn subject_where(pool: &SqlitePool, filter: &str) -> String {
    sqlx::query_scalar(&format!("SELECT subject FROM consent_records WHERE {filter}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A node's view of one visitor after `sync`: what it would enforce.
fn held(book: &ConsentBook, subject: &str) -> Option<Record> {
    book.get(&ConsentSubject::from_hex(subject).unwrap())
}

#[tokio::test]
async fn an_edited_record_with_a_later_position_is_never_enforced_by_a_catch_up() {
    let app = app().await;
    let visitor = vid("raised");
    app.post("/v1/opt-out", &json!({"visitor_id": visitor})).await;
    consents(&app, 3, "around").await;
    let pool = db(&app).await;
    let subject = subject_where(&pool, "opted_out").await;
    let store = store::open(&format!("sqlite://{}/personify.db", app.data_dir.path().display()))
        .await
        .unwrap();
    let book = ConsentBook::default();
    let pos = sync::load(store.as_ref(), &book).await.unwrap();
    assert_eq!(pos, 3, "the position is the last index of the log");
    // The attacker turns the opt-out into a grant and moves it past every node's position, as if
    // a newer entry had set it.
    sqlx::query(
        "UPDATE consent_records SET opted_out = 0, personalize = 1, measure = 1, advertise = 1, \
         pos = 1000, recorded_at = recorded_at + 1 WHERE subject = ?",
    )
    .bind(&subject)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(sync::catch_up(store.as_ref(), &book, pos).await.unwrap(), 3);
    assert_eq!(
        sync::catch_up(store.as_ref(), &book, -1).await.unwrap(),
        3,
        "a catch-up from the start"
    );
    let r = held(&book, &subject).unwrap();
    assert!(r.opted_out && r.purposes == Purposes::NONE, "{r:?}");
    // A real entry after the edit is still picked up.
    app.consent(
        &vid("later"),
        json!({"personalize": false, "measure": true, "advertise": false}),
    )
    .await;
    assert_eq!(sync::catch_up(store.as_ref(), &book, pos).await.unwrap(), 4);
    assert_eq!(book.len(), 5);
    assert_eq!(kinds(&verify(&app).await), ["record_differs"]);
}

#[tokio::test]
async fn a_forged_erasure_marker_cannot_delete_an_opt_out_the_log_still_holds() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/personify.db", data.path().display());
    let (visitor, subject) = {
        let app = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
        let visitor = vid("objector");
        app.post("/v1/opt-out", &json!({"visitor_id": visitor})).await;
        // A real erasure elsewhere leaves an erasure entry the forged marker can point at.
        let other = vid("leaver");
        app.consent(&other, json!({"personalize": true, "measure": true, "advertise": true}))
            .await;
        let res = app.post("/v1/consent/erase", &json!({"visitor_id": other})).await;
        assert_eq!(res.status(), 200);
        let pool = SqlitePool::connect(&url).await.unwrap();
        let subject = subject_where(&pool, "opted_out AND NOT erased").await;
        // The marker of an erased visitor who had only consented: "forget this visitor".
        sqlx::query(
            "UPDATE consent_records SET erased = 1, opted_out = 0, \
             pos = (SELECT idx FROM consent_leaves WHERE action = 'erasure') WHERE subject = ?",
        )
        .bind(&subject)
        .execute(&pool)
        .await
        .unwrap();
        // And one for nobody, pointing at an entry that is not an erasure.
        sqlx::query(
            "INSERT INTO consent_records (subject, personalize, measure, advertise, opted_out, source, \
             policy_version, receipt_id, recorded_at, pos, erased) VALUES (?, 0, 0, 0, 1, '-', '-', '-', 1, 0, 1)",
        )
        .bind(hex::encode([0x5a; 32]))
        .execute(&pool)
        .await
        .unwrap();
        let v = verify(&app).await;
        assert_eq!(v["state"], "inconsistent", "{v}");
        let mut found = kinds(&v);
        found.sort();
        assert_eq!(found, ["marker_for_linked_visitor", "marker_without_erasure"], "{v}");
        (visitor, subject)
    };
    // Neither a load nor a catch-up applies either marker.
    let store = store::open(&url).await.unwrap();
    for from_scratch in [true, false] {
        let book = ConsentBook::default();
        if from_scratch {
            sync::load(store.as_ref(), &book).await.unwrap();
        } else {
            sync::catch_up(store.as_ref(), &book, -1).await.unwrap();
        }
        assert!(held(&book, &subject).is_some_and(|r| r.opted_out));
        assert_eq!(held(&book, &hex::encode([0x5a; 32])), None);
        assert_eq!(book.len(), 1, "the objector only: the leaver was erased");
    }
    // A node starting on the edited file still honours the opt-out.
    let app = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
    assert_eq!(basis_in_de(&app, &visitor).await, "opt_out");
}

#[tokio::test]
async fn a_checkpoint_signed_by_another_key_is_refused_and_a_node_with_another_key_cannot_start() {
    let app = app().await;
    consents(&app, 2, "key").await;
    checkpoint_of(&app, 2).await;
    let pool = db(&app).await;
    // The attacker re-signs the newest checkpoint with a key of their own.
    let forged = LogKey::from_seed("personify.local/consent-log", [66; 32]).sign(&Checkpoint {
        origin: "personify.local/consent-log".into(),
        size: 2,
        root: [0; 32],
    });
    sqlx::query("UPDATE consent_checkpoints SET note = ? WHERE size = 2")
        .bind(&forged)
        .execute(&pool)
        .await
        .unwrap();
    let v = verify(&app).await;
    assert!(kinds(&v).contains(&"checkpoint_signature".to_string()), "{v}");

    // A second node given another key refuses to start on this store.
    let other = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/personify.db", app.data_dir.path().display());
    let mut settings = test_settings();
    settings.store.url = url.parse().expect("store url");
    settings.consent.log_key_file = other.path().join("another.key");
    let err = personify::app::startup::Application::build(&settings)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("signed by another key"), "{err}");
}

#[tokio::test]
async fn erasure_unlinks_the_visitor_keeps_proofs_valid_and_keeps_an_opt_out() {
    let app = app().await;
    let visitor = vid("erase-me");
    let r = app
        .consent(
            &visitor,
            json!({"personalize": true, "measure": true, "advertise": true}),
        )
        .await;
    app.post("/v1/opt-out", &json!({"visitor_id": visitor})).await;
    consents(&app, 2, "others").await;
    let res = app.post("/v1/consent/erase", &json!({"visitor_id": visitor})).await;
    assert_eq!(res.status(), 200);
    let e: Value = res.json().await.unwrap();
    assert_eq!(
        (e["erased_entries"].as_u64(), e["suppression_kept"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(e["receipt"]["action"], "erasure");
    // Nothing links the visitor any more, yet the opt-out still holds.
    let status: Value = app
        .post("/v1/consent/status", &json!({"visitor_id": visitor}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["receipts"], json!([]));
    assert_eq!(status["opted_out"], true);
    // The old receipt still proves its entry, and the log still verifies, erasures counted.
    let note = checkpoint_of(&app, 5).await;
    let proof: InclusionProof = app
        .client
        .get(app.url(r["proof"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    offline::verify_receipt(&proof, &note, &vkey(&app).await).unwrap();
    let v = verify(&app).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        (v["erased_entries"].as_u64(), v["suppression_markers"].as_u64()),
        (Some(2), Some(1))
    );
}

#[tokio::test]
async fn an_erased_visitors_nonces_are_gone_from_the_file_bytes() {
    let app = app().await;
    let visitor = vid("erase-from-disk");
    app.consent(
        &visitor,
        json!({"personalize": true, "measure": false, "advertise": false}),
    )
    .await;
    app.post("/v1/opt-out", &json!({"visitor_id": visitor})).await;
    consents(&app, 3, "bystanders").await;
    let pool = db(&app).await;
    let secret: Vec<u8> = sqlx::query_scalar("SELECT value FROM secrets WHERE name = 'visitor_key_v1'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let subject = personify::domain::privacy::Keyring::new(
        personify::domain::privacy::Secret::from_bytes(secret.try_into().unwrap()),
        std::time::SystemTime::now(),
    )
    .consent_subject(&personify::domain::privacy::VisitorId::parse(&visitor).unwrap())
    .to_hex();
    let nonces: Vec<Vec<u8>> = sqlx::query_scalar("SELECT nonce FROM consent_subjects WHERE subject = ?")
        .bind(&subject)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(nonces.len(), 2);
    let res = app.post("/v1/consent/erase", &json!({"visitor_id": visitor})).await;
    assert_eq!(res.status(), 200);

    // The suppression marker keeps the keyed hash in `consent_records` (to honour the opt-out),
    // so only the nonces must be gone: without them nobody can tell which leaves were the visitor's.
    let busy: i64 = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(busy, 0);
    let bytes = std::fs::read(app.data_dir.path().join("personify.db")).unwrap();
    for n in &nonces {
        assert!(
            !bytes.windows(n.len()).any(|w| w == n.as_slice()),
            "an erased entry's nonce is still in the file's bytes (deleted rows stay on disk unless secure_delete is on)"
        );
    }
}
