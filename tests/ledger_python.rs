//! The consent ledger's proofs checked by an independent verifier written in Python from the
//! specifications (`tools/ledger-verify/verify.py`: hashlib and PyPI's `cryptography` only), so the
//! Rust code is not the only judge of its own proofs.

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use personify::ledger::merkle::{consistency_proof, inclusion_proof, leaf_hash, root};
use personify::ledger::{Checkpoint, LogKey, MemoryTree};
use serde_json::json;

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
