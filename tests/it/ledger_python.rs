//! The consent ledger's proofs checked by an independent verifier written in Python from the
//! specifications (`tools/ledger-verify/verify.py`: hashlib and PyPI's `cryptography` only), so the
//! Rust code is not the only judge of its own proofs.

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use personify::domain::ledger::merkle::{consistency_proof, inclusion_proof, leaf_hash, root};
use personify::domain::ledger::{Checkpoint, LogKey, MemoryTree};
use serde_json::{json, Value};

const ORIGIN: &str = "personify.test/consent-log";

fn python(args: &[&str]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/ledger-verify/verify.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs (install python3; .ci/run installs `cryptography`)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn b64(h: &[u8]) -> String {
    B64.encode(h)
}

#[test]
#[ignore = "needs python3 with `cryptography` (PyPI); .ci/run installs it and runs this"]
fn python_verifier_accepts_our_proofs_and_rejects_forgeries() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let key = LogKey::from_seed(ORIGIN, [42; 32]);
    let vkey = key.verifier().vkey();
    let mut tree = MemoryTree::new();
    let leaves: Vec<Vec<u8>> = (0..1000u32).map(|i| format!("leaf {i}\n").into_bytes()).collect();
    for l in &leaves[..700] {
        tree.push(leaf_hash(l));
    }
    let old = Checkpoint {
        origin: ORIGIN.into(),
        size: 700,
        root: root(&tree, 700).unwrap(),
    };
    for l in &leaves[700..] {
        tree.push(leaf_hash(l));
    }
    let new = Checkpoint {
        origin: ORIGIN.into(),
        size: 1000,
        root: root(&tree, 1000).unwrap(),
    };
    std::fs::write(p("old"), key.sign(&old)).unwrap();
    std::fs::write(p("new"), key.sign(&new)).unwrap();

    let (ok, out) = python(&["checkpoint", "--vkey", &vkey, &p("new")]);
    assert!(ok && out.contains("size 1000"), "{out}");

    for index in [0u64, 1, 511, 699, 998, 999] {
        let path = inclusion_proof(&tree, index, 1000).unwrap();
        let proof = json!({"leaf_index": index, "tree_size": 1000,
            "leaf_hash": b64(&leaf_hash(&leaves[index as usize])),
            "audit_path": path.iter().map(|h| b64(h)).collect::<Vec<_>>()});
        std::fs::write(p("proof.json"), proof.to_string()).unwrap();
        std::fs::write(p("leaf.txt"), &leaves[index as usize]).unwrap();
        let (ok, out) = python(&[
            "inclusion",
            "--vkey",
            &vkey,
            "--checkpoint",
            &p("new"),
            "--proof",
            &p("proof.json"),
            "--leaf",
            &p("leaf.txt"),
        ]);
        assert!(ok, "leaf {index}: {out}");
        // Another leaf's text with this proof fails.
        std::fs::write(p("leaf.txt"), b"forged\n").unwrap();
        let (ok, out) = python(&[
            "inclusion",
            "--vkey",
            &vkey,
            "--checkpoint",
            &p("new"),
            "--proof",
            &p("proof.json"),
            "--leaf",
            &p("leaf.txt"),
        ]);
        assert!(!ok && out.contains("FAILED"), "{out}");
    }

    let proof = consistency_proof(&tree, 700, 1000).unwrap();
    let body = json!({"first": 700, "second": 1000, "proof": proof.iter().map(|h| b64(h)).collect::<Vec<_>>()});
    std::fs::write(p("consistency.json"), body.to_string()).unwrap();
    let (ok, out) = python(&[
        "consistency",
        "--vkey",
        &vkey,
        "--old",
        &p("old"),
        "--new",
        &p("new"),
        "--proof",
        &p("consistency.json"),
    ]);
    assert!(ok, "{out}");

    // A rewritten history: the old checkpoint signed over a different leaf 3 is not a prefix.
    let mut forged = MemoryTree::new();
    for (i, l) in leaves[..700].iter().enumerate() {
        forged.push(leaf_hash(if i == 3 { b"rewritten\n" } else { l }));
    }
    let forged_old = Checkpoint {
        origin: ORIGIN.into(),
        size: 700,
        root: root(&forged, 700).unwrap(),
    };
    std::fs::write(p("forged"), key.sign(&forged_old)).unwrap();
    let (ok, out) = python(&[
        "consistency",
        "--vkey",
        &vkey,
        "--old",
        &p("forged"),
        "--new",
        &p("new"),
        "--proof",
        &p("consistency.json"),
    ]);
    assert!(!ok && out.contains("not a prefix"), "{out}");

    // A checkpoint signed by another key, or edited after signing, is refused.
    let other = LogKey::from_seed(ORIGIN, [43; 32]);
    std::fs::write(p("other"), other.sign(&new)).unwrap();
    let (ok, out) = python(&["checkpoint", "--vkey", &vkey, &p("other")]);
    assert!(!ok && out.contains("no signature"), "{out}");
    std::fs::write(p("edited"), key.sign(&new).replacen("\n1000\n", "\n1001\n", 1)).unwrap();
    let (ok, out) = python(&["checkpoint", "--vkey", &vkey, &p("edited")]);
    assert!(!ok && out.contains("does not verify"), "{out}");
}

async fn text(app: &crate::helpers::TestApp, path: &str) -> (u16, String) {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Waits until the newest checkpoint covers `size` entries; returns its note.
async fn checkpoint_of(app: &crate::helpers::TestApp, size: u64) -> String {
    for _ in 0..300 {
        let (status, note) = text(app, "/v1/consent/log/checkpoint").await;
        if status == 200 && note.lines().nth(1) == Some(&size.to_string()) {
            return note;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no checkpoint of size {size} within 30 s");
}

/// Records `n` consents with varied purposes; returns the receipts.
async fn record(app: &crate::helpers::TestApp, n: usize, tag: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..n {
        let purposes = json!({"personalize": i % 2 == 0, "measure": i % 3 == 0, "advertise": i % 5 == 0});
        out.push(app.consent(&crate::helpers::vid(&format!("{tag}-{i}")), purposes).await);
    }
    out
}

#[tokio::test]
#[ignore = "needs python3 with `cryptography` (PyPI); .ci/run installs it and runs this"]
async fn python_verifier_accepts_the_real_servers_proofs_and_rejects_tampered_ones() {
    let app = crate::helpers::spawn_app_with(|s| s.consent.checkpoint_seconds = 1).await;
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let write = |name: &str, body: &str| std::fs::write(dir.path().join(name), body).unwrap();

    let first = record(&app, 7, "py-first").await;
    // An opt-out is a leaf too.
    let res = app
        .post("/v1/opt-out", &json!({"visitor_id": crate::helpers::vid("py-first-3")}))
        .await;
    assert_eq!(res.status(), 201);
    let old = checkpoint_of(&app, 8).await;
    let (status, vkey) = text(&app, "/v1/consent/log/public-key").await;
    assert_eq!(status, 200);
    let vkey = vkey.trim().to_string();
    write("old", &old);
    let (ok, out) = python(&["checkpoint", "--vkey", &vkey, &p("old")]);
    assert!(ok && out.contains("size 8"), "{out}");

    // Every receipt's proof, with its leaf text, against the checkpoint inside the proof and the
    // one fetched separately.
    let inclusion = |proof: &str, leaf: &str, checkpoint: &str| {
        write("proof.json", proof);
        write("leaf.txt", leaf);
        write("cp", checkpoint);
        python(&[
            "inclusion",
            "--vkey",
            &vkey,
            "--checkpoint",
            &p("cp"),
            "--proof",
            &p("proof.json"),
            "--leaf",
            &p("leaf.txt"),
        ])
    };
    let mut proofs = Vec::new();
    for r in &first {
        let (status, body) = text(&app, r["proof"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{body}");
        let proof: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(proof["tree_size"], 8);
        assert_eq!(proof["leaf_index"], r["leaf_index"]);
        assert_eq!(proof["checkpoint"], old.as_str());
        let (ok, out) = inclusion(&body, proof["leaf"].as_str().unwrap(), &old);
        assert!(ok, "receipt {}: {out}", r["leaf_index"]);
        assert!(out.contains("is in the tree of size 8"), "{out}");
        proofs.push(proof);
    }

    // More entries, a newer checkpoint, and the consistency proof between the two.
    let second = record(&app, 9, "py-second").await;
    let new = checkpoint_of(&app, 17).await;
    write("new", &new);
    let (status, body) = text(&app, "/v1/consent/log/consistency?first=8&second=17").await;
    assert_eq!(status, 200, "{body}");
    write("consistency.json", &body);
    let consistency = |old: &str, new: &str| {
        python(&[
            "consistency",
            "--vkey",
            &vkey,
            "--old",
            &p(old),
            "--new",
            &p(new),
            "--proof",
            &p("consistency.json"),
        ])
    };
    let (ok, out) = consistency("old", "new");
    assert!(ok && out.contains("size 8 is a prefix of the tree of size 17"), "{out}");
    // An old receipt is proved in the newer checkpoint too, and a new one in its own.
    for r in [&first[0], &first[6], &second[8]] {
        let (status, body) = text(&app, r["proof"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        let proof: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(proof["tree_size"], 17);
        let (ok, out) = inclusion(&body, proof["leaf"].as_str().unwrap(), &new);
        assert!(ok, "{out}");
    }

    // Tampering, each caught by the independent verifier.
    let fails = |(ok, out): (bool, String), why: &str| {
        assert!(!ok && out.contains("FAILED"), "{why}: {out}");
    };
    let good = &proofs[2];
    let leaf = good["leaf"].as_str().unwrap();
    // The leaf text says something else (the receipt's purposes flipped).
    assert!(leaf.contains("\npersonalize 1\n"), "{leaf}");
    let edited_leaf = leaf.replace("\npersonalize 1\n", "\npersonalize 0\n");
    fails(inclusion(&good.to_string(), &edited_leaf, &old), "an edited leaf");
    // The leaf hash and text both replaced with another entry's, keeping this entry's path.
    let mut swapped = good.clone();
    swapped["leaf_hash"] = proofs[5]["leaf_hash"].clone();
    fails(
        inclusion(&swapped.to_string(), proofs[5]["leaf"].as_str().unwrap(), &old),
        "another entry's leaf on this entry's path",
    );
    // A sibling hash in the audit path altered.
    let mut bent = good.clone();
    bent["audit_path"][0] = bent["audit_path"][1].clone();
    fails(inclusion(&bent.to_string(), leaf, &old), "an altered audit path");
    // The index moved.
    let mut moved = good.clone();
    moved["leaf_index"] = json!(3);
    fails(inclusion(&moved.to_string(), leaf, &old), "a moved index");
    // The proof against the other checkpoint (another tree size).
    fails(inclusion(&good.to_string(), leaf, &new), "another tree size");
    // A checkpoint with its size or root edited after signing.
    let edited = old.replacen("\n8\n", "\n9\n", 1);
    assert_ne!(edited, old);
    write("edited", &edited);
    fails(
        python(&["checkpoint", "--vkey", &vkey, &p("edited")]),
        "an edited checkpoint size",
    );
    let root_line = old.lines().nth(2).unwrap();
    let mut root = B64.decode(root_line).unwrap();
    root[0] ^= 1;
    write("edited", &old.replacen(root_line, &B64.encode(&root), 1));
    fails(
        python(&["checkpoint", "--vkey", &vkey, &p("edited")]),
        "an edited checkpoint root",
    );
    fails(
        inclusion(&good.to_string(), leaf, &std::fs::read_to_string(p("edited")).unwrap()),
        "inclusion against an edited checkpoint",
    );
    // The consistency proof altered, or its checkpoints swapped.
    let mut c: Value = serde_json::from_str(&body).unwrap();
    let first_hash = c["proof"][0].as_str().unwrap().to_string();
    let mut h = B64.decode(&first_hash).unwrap();
    h[31] ^= 0x80;
    c["proof"][0] = json!(B64.encode(&h));
    write("consistency.json", &c.to_string());
    fails(consistency("old", "new"), "an altered consistency proof");
    write("consistency.json", &body);
    fails(consistency("new", "old"), "the checkpoints swapped");
    let (ok, out) = consistency("old", "new");
    assert!(ok, "the untouched proof still verifies: {out}");
}
