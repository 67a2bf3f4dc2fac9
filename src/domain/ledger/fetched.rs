//! Proofs over a tree held in a database: which complete subtrees depends only on the leaf index and
//! the tree sizes, never on hash values, so a proof is made in two passes: list the subtrees it
//! needs, fetch them in one query, then compute over what was fetched.

use std::cell::RefCell;
use std::collections::HashMap;

use super::merkle::{consistency_proof, inclusion_proof, root, Hash, ProofError, Subtrees};

/// `(level, index)` of a complete subtree.
pub type Key = (u32, u64);

/// Records the keys a computation asks for and answers zeros.
#[derive(Default)]
struct Recorder(RefCell<Vec<Key>>);

impl Subtrees for Recorder {
    type Error = std::convert::Infallible;
    fn complete(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        self.0.borrow_mut().push((level, index));
        Ok([0; 32])
    }
}

/// Complete subtrees fetched from a store.
#[derive(Debug, Default, Clone)]
pub struct Fetched(pub HashMap<Key, Hash>);

/// A subtree the store should have held but did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("complete subtree ({0}, {1}) is missing from the store")]
pub struct Missing(pub u32, pub u64);

impl Subtrees for Fetched {
    type Error = Missing;
    fn complete(&self, level: u32, index: u64) -> Result<Hash, Missing> {
        self.0.get(&(level, index)).copied().ok_or(Missing(level, index))
    }
}

fn keys(run: impl FnOnce(&Recorder)) -> Vec<Key> {
    let r = Recorder::default();
    run(&r);
    let mut k = r.0.into_inner();
    k.sort_unstable();
    k.dedup();
    k
}

/// The subtrees an inclusion proof of `index` in a tree of `size` reads.
pub fn inclusion_keys(index: u64, size: u64) -> Vec<Key> {
    keys(|r| {
        let _ = inclusion_proof(r, index, size);
    })
}

/// The subtrees a consistency proof from `old` to `new` reads.
pub fn consistency_keys(old: u64, new: u64) -> Vec<Key> {
    keys(|r| {
        let _ = consistency_proof(r, old, new);
    })
}

/// The subtrees the root of a tree of `size` reads.
pub fn root_keys(size: u64) -> Vec<Key> {
    keys(|r| {
        let _ = root(r, size);
    })
}

/// A proof error where the source is a fetched set.
pub type FetchedProofError = ProofError<Missing>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::merkle::{leaf_hash, MemoryTree};

    #[test]
    fn proofs_from_fetched_subtrees_equal_proofs_from_the_whole_tree() {
        let mut t = MemoryTree::new();
        for i in 0..777u64 {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        let fetch = |keys: Vec<Key>| Fetched(keys.into_iter().map(|k| (k, t.complete(k.0, k.1).unwrap())).collect());
        for (index, size) in [(0, 1), (5, 777), (776, 777), (300, 513)] {
            let f = fetch(inclusion_keys(index, size));
            assert_eq!(
                inclusion_proof(&f, index, size).unwrap(),
                inclusion_proof(&t, index, size).unwrap()
            );
            assert!(f.0.len() <= 2 * 64, "a proof reads O(log n) subtrees");
        }
        let f = fetch(consistency_keys(300, 777));
        assert_eq!(
            consistency_proof(&f, 300, 777).unwrap(),
            consistency_proof(&t, 300, 777).unwrap()
        );
        let f = fetch(root_keys(777));
        assert_eq!(root(&f, 777).unwrap(), root(&t, 777).unwrap());
    }
}
