//! Checks anyone can run without trusting the server: a receipt's inclusion proof against a signed
//! checkpoint, and an old checkpoint against a newer one with a consistency proof. Used by
//! `personify verify-receipt` and `personify audit`; the Python verifier in
//! `tools/ledger-verify/` does the same from the specifications alone.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::checkpoint::{Checkpoint, CheckpointError, NoteVerifier};
use super::merkle::{leaf_hash, verify_consistency, verify_inclusion, Hash};

/// An inclusion proof as served at `/v1/consent/receipts/{id}/proof`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The entry's index.
    pub leaf_index: u64,
    /// The tree size the proof is for (a checkpoint's size).
    pub tree_size: u64,
    /// Base64 leaf hash.
    pub leaf_hash: String,
    /// Base64 sibling hashes, bottom up.
    pub audit_path: Vec<String>,
    /// The leaf's canonical text (its hash is `SHA-256(0x00 ‖ leaf)`).
    pub leaf: String,
    /// The signed checkpoint of `tree_size`.
    pub checkpoint: String,
}

/// A consistency proof as served at `/v1/consent/log/consistency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// Older tree size.
    pub first: u64,
    /// Newer tree size.
    pub second: u64,
    /// Base64 hashes.
    pub proof: Vec<String>,
}

/// Why an offline check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfflineError {
    /// A checkpoint did not verify under the given key.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A hash in the proof is not base64 of 32 bytes.
    #[error("the proof holds a hash that is not base64 of 32 bytes")]
    Hash,
    /// The proof is for another tree size than the checkpoint.
    #[error("the proof is for a tree of {proof} entries but the checkpoint covers {checkpoint}")]
    SizeMismatch {
        /// Size in the proof.
        proof: u64,
        /// Size in the checkpoint.
        checkpoint: u64,
    },
    /// The leaf text does not hash to the leaf hash.
    #[error("the receipt's leaf text does not hash to its leaf hash")]
    LeafText,
    /// The leaf is not in the tree the checkpoint signs.
    #[error("the inclusion proof does not lead to the checkpoint's root: this entry is not in the signed log")]
    NotIncluded,
    /// The newer checkpoint is smaller: the log was truncated (or restored from a backup).
    #[error("the log now has {now} entries, fewer than the {old} of the old checkpoint: it was truncated or restored from a backup")]
    Shrunk {
        /// Old size.
        old: u64,
        /// Current size.
        now: u64,
    },
    /// The two tree heads are not one history.
    #[error("the consistency proof fails: the log of {second} entries does not extend the old checkpoint of {first}; history was rewritten")]
    Inconsistent {
        /// Old size.
        first: u64,
        /// New size.
        second: u64,
    },
}

fn hash(b64: &str) -> Result<Hash, OfflineError> {
    B64.decode(b64)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(OfflineError::Hash)
}

/// Verifies a receipt's proof against a signed checkpoint; returns the checkpoint.
pub fn verify_receipt(
    proof: &InclusionProof,
    checkpoint_note: &str,
    key: &NoteVerifier,
) -> Result<Checkpoint, OfflineError> {
    let cp = key.open(checkpoint_note)?;
    if proof.tree_size != cp.size {
        return Err(OfflineError::SizeMismatch {
            proof: proof.tree_size,
            checkpoint: cp.size,
        });
    }
    let leaf = hash(&proof.leaf_hash)?;
    if leaf_hash(proof.leaf.as_bytes()) != leaf {
        return Err(OfflineError::LeafText);
    }
    let path = proof
        .audit_path
        .iter()
        .map(|h| hash(h))
        .collect::<Result<Vec<_>, _>>()?;
    if !verify_inclusion(&leaf, proof.leaf_index, cp.size, &path, &cp.root) {
        return Err(OfflineError::NotIncluded);
    }
    Ok(cp)
}

/// Verifies that `new_note` extends `old_note` (both signed by `key`) with `proof`.
pub fn verify_extends(
    old_note: &str,
    new_note: &str,
    proof: Option<&ConsistencyProof>,
    key: &NoteVerifier,
) -> Result<(Checkpoint, Checkpoint), OfflineError> {
    let old = key.open(old_note)?;
    let new = key.open(new_note)?;
    if new.size < old.size {
        return Err(OfflineError::Shrunk {
            old: old.size,
            now: new.size,
        });
    }
    let inconsistent = || OfflineError::Inconsistent {
        first: old.size,
        second: new.size,
    };
    let hashes = match proof {
        Some(p) if (p.first, p.second) == (old.size, new.size) => {
            p.proof.iter().map(|h| hash(h)).collect::<Result<Vec<_>, _>>()?
        }
        Some(_) => return Err(inconsistent()),
        None => Vec::new(),
    };
    if !verify_consistency(old.size, new.size, &old.root, &new.root, &hashes) {
        return Err(inconsistent());
    }
    Ok((old, new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::checkpoint::LogKey;
    use crate::domain::ledger::merkle::{consistency_proof, inclusion_proof, root, MemoryTree};

    fn signed(key: &LogKey, t: &MemoryTree, size: u64) -> String {
        key.sign(&Checkpoint {
            origin: "t/log".into(),
            size,
            root: root(t, size).unwrap(),
        })
    }

    #[test]
    fn receipts_and_extensions_verify_and_forgeries_do_not() {
        let key = LogKey::from_seed("t/log", [3; 32]);
        let v = key.verifier();
        let mut t = MemoryTree::new();
        let leaves: Vec<String> = (0..20).map(|i| format!("leaf {i}\n")).collect();
        for l in &leaves {
            t.push(leaf_hash(l.as_bytes()));
        }
        let note = signed(&key, &t, 20);
        let proof = InclusionProof {
            leaf_index: 7,
            tree_size: 20,
            leaf_hash: B64.encode(leaf_hash(leaves[7].as_bytes())),
            audit_path: inclusion_proof(&t, 7, 20)
                .unwrap()
                .iter()
                .map(|h| B64.encode(h))
                .collect(),
            leaf: leaves[7].clone(),
            checkpoint: note.clone(),
        };
        assert!(verify_receipt(&proof, &note, &v).is_ok());
        let mut forged = proof.clone();
        forged.leaf = "leaf 8\n".into();
        assert_eq!(verify_receipt(&forged, &note, &v), Err(OfflineError::LeafText));
        let other = LogKey::from_seed("t/log", [4; 32]);
        assert!(matches!(
            verify_receipt(&proof, &signed(&other, &t, 20), &v),
            Err(OfflineError::Checkpoint(_))
        ));

        let old = signed(&key, &t, 12);
        let c = ConsistencyProof {
            first: 12,
            second: 20,
            proof: consistency_proof(&t, 12, 20)
                .unwrap()
                .iter()
                .map(|h| B64.encode(h))
                .collect(),
        };
        assert!(verify_extends(&old, &note, Some(&c), &v).is_ok());
        assert!(matches!(
            verify_extends(&note, &old, None, &v),
            Err(OfflineError::Shrunk { old: 20, now: 12 })
        ));
        // A rewritten history: another tree of the same size under the same key.
        let mut t2 = MemoryTree::new();
        for l in leaves.iter().rev() {
            t2.push(leaf_hash(l.as_bytes()));
        }
        let rewritten = signed(&key, &t2, 20);
        assert!(matches!(
            verify_extends(&old, &rewritten, Some(&c), &v),
            Err(OfflineError::Inconsistent { .. })
        ));
    }
}
