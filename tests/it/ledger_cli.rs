//! `personify verify-receipt` and `personify audit` run as a compliance team would: the real binary,
//! in a directory of its own with no configuration, against proofs and checkpoints from a real
//! server.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use personify::domain::ledger::merkle::MemoryTree;
use personify::store;
use serde_json::{json, Value};
use sqlx::SqlitePool;

use crate::helpers::*;

/// Runs the binary in `cwd`; returns (exit code, stdout, stderr).
fn personify(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_personify"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("personify runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok((code, out, err): (i32, String, String), what: &str) -> String {
    assert_eq!(code, 0, "{what}: stdout {out} stderr {err}");
    assert!(out.starts_with("ok: "), "{what}: {out}");
    out
}

fn failed((code, out, err): (i32, String, String), what: &str) -> String {
    assert_eq!(code, 1, "{what}: stdout {out} stderr {err}");
    assert!(err.contains("FAILED"), "{what}: {err}");
    assert!(!out.contains("ok:"), "{what}: {out}");
    err
}

async fn text(app: &TestApp, path: &str) -> (u16, String) {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Waits until the newest checkpoint covers `size` entries; returns its note.
async fn checkpoint_of(app: &TestApp, size: u64) -> String {
    for _ in 0..300 {
        let (status, note) = text(app, "/v1/consent/log/checkpoint").await;
        if status == 200 && note.lines().nth(1) == Some(&size.to_string()) {
            return note;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no checkpoint of size {size} within 30 s");
}

async fn record(app: &TestApp, n: usize, tag: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..n {
        let purposes = json!({"personalize": true, "measure": i % 2 == 0, "advertise": false});
        out.push(app.consent(&vid(&format!("{tag}-{i}")), purposes).await);
    }
    out
}

async fn app() -> TestApp {
    spawn_app_with(|s| s.consent.checkpoint_seconds = 1).await
}

#[tokio::test]
async fn verify_receipt_accepts_a_real_proof_and_refuses_a_tampered_one() {
    let app = app().await;
    let receipts = record(&app, 5, "cli-receipt").await;
    let note = checkpoint_of(&app, 5).await;
    let vkey = text(&app, "/v1/consent/log/public-key").await.1.trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = |name: &str| d.join(name).to_string_lossy().into_owned();
    std::fs::write(d.join("vkey.txt"), format!("{vkey}\n")).unwrap();
    std::fs::write(d.join("checkpoint.txt"), &note).unwrap();
    let (status, body) = text(&app, receipts[2]["proof"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    std::fs::write(d.join("proof.json"), &body).unwrap();

    // The checkpoint inside the proof, the key given inline.
    let out = ok(
        personify(d, &["verify-receipt", &path("proof.json"), "--vkey", &vkey]),
        "inline key",
    );
    assert!(out.contains("entry 2 is in the log"), "{out}");
    assert!(out.contains("of 5 entries"), "{out}");
    // A checkpoint kept separately, the key from a file.
    ok(
        personify(
            d,
            &[
                "verify-receipt",
                &path("proof.json"),
                &path("checkpoint.txt"),
                "--vkey",
                &format!("@{}", path("vkey.txt")),
            ],
        ),
        "checkpoint file and @FILE key",
    );

    // Tampered: the leaf's purposes flipped (hash left alone), then hash recomputed to match.
    let proof: Value = serde_json::from_str(&body).unwrap();
    let leaf = proof["leaf"].as_str().unwrap();
    assert!(leaf.contains("\nadvertise 0\n"), "{leaf}");
    let mut edited = proof.clone();
    edited["leaf"] = json!(leaf.replace("\nadvertise 0\n", "\nadvertise 1\n"));
    std::fs::write(d.join("edited.json"), edited.to_string()).unwrap();
    let err = failed(
        personify(d, &["verify-receipt", &path("edited.json"), "--vkey", &vkey]),
        "edited leaf text",
    );
    assert!(err.contains("leaf text"), "{err}");
    {
        use base64::Engine;
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(edited["leaf"].as_str().unwrap().as_bytes());
        edited["leaf_hash"] = json!(base64::engine::general_purpose::STANDARD.encode(h.finalize()));
    }
    std::fs::write(d.join("edited.json"), edited.to_string()).unwrap();
    let err = failed(
        personify(d, &["verify-receipt", &path("edited.json"), "--vkey", &vkey]),
        "edited leaf, rehashed",
    );
    assert!(err.contains("not in the signed log"), "{err}");
    // Another log's key, and a checkpoint edited after signing.
    let other = personify::domain::ledger::LogKey::from_seed("personify.local/consent-log", [7; 32])
        .verifier()
        .vkey();
    failed(
        personify(d, &["verify-receipt", &path("proof.json"), "--vkey", &other]),
        "another key",
    );
    std::fs::write(d.join("edited.txt"), note.replacen("\n5\n", "\n6\n", 1)).unwrap();
    failed(
        personify(
            d,
            &[
                "verify-receipt",
                &path("proof.json"),
                &path("edited.txt"),
                "--vkey",
                &vkey,
            ],
        ),
        "edited checkpoint",
    );
    // A proof for another tree size than the checkpoint given.
    record(&app, 2, "cli-receipt-more").await;
    let newer = checkpoint_of(&app, 7).await;
    std::fs::write(d.join("newer.txt"), &newer).unwrap();
    failed(
        personify(
            d,
            &[
                "verify-receipt",
                &path("proof.json"),
                &path("newer.txt"),
                "--vkey",
                &vkey,
            ],
        ),
        "another tree size",
    );
}

/// The attacker's tool (as in `ledger_attacks`): after editing leaves, recompute every
/// leaf hash and every stored subtree so the database is internally consistent again.
async fn rehash_everything(url: &str, pool: &SqlitePool) {
    let store = store::open(url).await.unwrap();
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

#[tokio::test]
async fn audit_accepts_a_growing_log_and_catches_a_rewritten_one() {
    let app = app().await;
    record(&app, 5, "cli-audit").await;
    let old = checkpoint_of(&app, 5).await;
    let vkey = text(&app, "/v1/consent/log/public-key").await.1.trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = |name: &str| d.join(name).to_string_lossy().into_owned();
    std::fs::write(d.join("old.txt"), &old).unwrap();
    std::fs::write(d.join("vkey.txt"), &vkey).unwrap();
    let vkey_file = format!("@{}", path("vkey.txt"));
    let audit_url = |key: &str| {
        personify(
            d,
            &[
                "audit",
                "--checkpoint",
                &path("old.txt"),
                "--url",
                &app.address,
                "--vkey",
                key,
            ],
        )
    };
    let audit_files = || {
        personify(
            d,
            &[
                "audit",
                "--checkpoint",
                &path("old.txt"),
                "--new",
                &path("new.txt"),
                "--proof",
                &path("proof.json"),
                "--vkey",
                &vkey,
            ],
        )
    };

    // Nothing new yet: the newest checkpoint is the old one.
    ok(audit_url(&vkey), "an unchanged log");

    // The log grows: both ways of auditing accept it.
    record(&app, 4, "cli-audit-more").await;
    let new = checkpoint_of(&app, 9).await;
    let out = ok(audit_url(&vkey_file), "a grown log, --url");
    assert!(out.contains("log of 9 entries extends the checkpoint of 5"), "{out}");
    std::fs::write(d.join("new.txt"), &new).unwrap();
    let (status, proof) = text(&app, "/v1/consent/log/consistency?first=5&second=9").await;
    assert_eq!(status, 200, "{proof}");
    std::fs::write(d.join("proof.json"), &proof).unwrap();
    ok(audit_files(), "a grown log, --new and --proof");
    // The same files with the checkpoints swapped are refused (the log cannot shrink).
    let swapped = personify(
        d,
        &[
            "audit",
            "--checkpoint",
            &path("new.txt"),
            "--new",
            &path("old.txt"),
            "--proof",
            &path("proof.json"),
            "--vkey",
            &vkey,
        ],
    );
    failed(swapped, "checkpoints swapped");

    // The attacker rewrites entry 2 (an opt-in to advertising), re-hashes everything so the
    // store is self-consistent, and waits for the next checkpoint.
    let url = format!("sqlite://{}/personify.db", app.data_dir.path().display());
    let pool = SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DROP TRIGGER consent_leaves_no_update")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE consent_leaves SET advertise = 1 WHERE idx = 2")
        .execute(&pool)
        .await
        .unwrap();
    rehash_everything(&url, &pool).await;
    record(&app, 1, "cli-audit-after").await;
    let rewritten = checkpoint_of(&app, 10).await;

    let err = failed(audit_url(&vkey), "a rewritten log, --url");
    assert!(err.contains("history was rewritten"), "{err}");
    std::fs::write(d.join("new.txt"), &rewritten).unwrap();
    let (status, proof) = text(&app, "/v1/consent/log/consistency?first=5&second=10").await;
    assert_eq!(status, 200, "{proof}");
    std::fs::write(d.join("proof.json"), &proof).unwrap();
    let err = failed(audit_files(), "a rewritten log, --new and --proof");
    assert!(err.contains("history was rewritten"), "{err}");
    // Even the checkpoint of 9 issued before the rewrite catches it.
    std::fs::write(d.join("old.txt"), &new).unwrap();
    failed(audit_url(&vkey), "a rewritten log against the checkpoint of 9");

    // An audit with another key refuses the kept checkpoint itself.
    let other = personify::domain::ledger::LogKey::from_seed("personify.local/consent-log", [7; 32])
        .verifier()
        .vkey();
    failed(audit_url(&other), "another key");
}
