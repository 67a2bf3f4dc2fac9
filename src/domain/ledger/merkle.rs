//! An RFC 9162 Merkle tree over the consent log: leaf and node hashing, tree heads, inclusion and
//! consistency proofs, and their verification.
//!
//! The tree is read through [`Subtrees`], which answers the hash of any *complete* subtree (2^level
//! leaves starting at a multiple of 2^level). Every hash the RFC's recursion needs is a right fold of
//! at most log2(n) complete subtrees, so a proof costs O(log² n) lookups whatever the log's size, and
//! storage keeps complete subtrees once instead of recomputing them. See `docs/decisions/` for why the
//! tree is hand-written (`002-consent-ledger.md`).

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ entry)`: the hash of one leaf.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256()` of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Read access to the hashes of complete subtrees.
pub trait Subtrees {
    /// Why a lookup failed.
    type Error;
    /// The hash of leaves `[index·2^level, (index+1)·2^level)`, all of which exist.
    fn complete(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E> {
    /// The leaf index or a tree size is beyond the tree, or the sizes are out of order.
    #[error("leaf index or tree size out of range")]
    OutOfRange,
    /// The subtree source failed.
    #[error("subtree lookup failed")]
    Source(E),
}

/// Largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH of leaves `[start, start+n)`, for a range the RFC recursion produces (n ≥ 1).
fn range_hash<S: Subtrees>(src: &S, start: u64, n: u64) -> Result<Hash, S::Error> {
    if n.is_power_of_two() && start % n == 0 {
        return src.complete(n.trailing_zeros(), start / n);
    }
    let k = split(n);
    let left = range_hash(src, start, k)?;
    let right = range_hash(src, start + k, n - k)?;
    Ok(node_hash(&left, &right))
}

/// The tree head (root hash) of the first `size` leaves.
pub fn root<S: Subtrees>(src: &S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(src, 0, size)
}

/// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 9162 §2.1.3.1).
pub fn inclusion_proof<S: Subtrees>(src: &S, index: u64, size: u64) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::OutOfRange);
    }
    let mut path = Vec::new();
    // Walk down from the root; siblings are collected top-down and reversed at the end.
    let (mut start, mut n, mut m) = (0u64, size, index);
    while n > 1 {
        let k = split(n);
        if m < k {
            path.push(range_hash(src, start + k, n - k).map_err(ProofError::Source)?);
            n = k;
        } else {
            path.push(range_hash(src, start, k).map_err(ProofError::Source)?);
            start += k;
            m -= k;
            n -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof between the trees of `old` and `new` leaves (RFC 9162 §2.1.4.1).
pub fn consistency_proof<S: Subtrees>(src: &S, old: u64, new: u64) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old > new {
        return Err(ProofError::OutOfRange);
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut proof = Vec::new();
    let (mut start, mut n, mut m, mut whole) = (0u64, new, old, true);
    loop {
        if m == n {
            if !whole {
                proof.push(range_hash(src, start, n).map_err(ProofError::Source)?);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            proof.push(range_hash(src, start + k, n - k).map_err(ProofError::Source)?);
            n = k;
        } else {
            proof.push(range_hash(src, start, k).map_err(ProofError::Source)?);
            start += k;
            m -= k;
            n -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Checks an audit path (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Checks a consistency proof between two tree heads (RFC 9162 §2.1.4.2).
pub fn verify_consistency(old: u64, new: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty();
    }
    let mut nodes: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        nodes.push(*old_root);
    }
    nodes.extend_from_slice(proof);
    let Some((first, rest)) = nodes.split_first() else {
        return false;
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && fr == *old_root && sr == *new_root
}

/// Complete-subtree hashes held in memory, level by level; appending a leaf updates every level.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the hash of the complete subtree of 2^l leaves at position i.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash and returns the complete subtrees it completed, `(level, index, hash)`
    /// from level 0 up, so a store can persist exactly what changed.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u32, u64, Hash)> {
        let mut made = Vec::new();
        let mut level = 0usize;
        let mut hash = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            let index = row.len() as u64 - 1;
            made.push((level as u32, index, hash));
            if index % 2 == 0 {
                break;
            }
            hash = node_hash(&row[row.len() - 2], &hash);
            level += 1;
        }
        made
    }
}

impl Subtrees for MemoryTree {
    type Error = std::convert::Infallible;

    fn complete(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        // Callers only ask for subtrees inside the tree; a miss would be a bug in the recursion,
        // and hashing zeros makes any proof built on it fail verification rather than panic.
        Ok(self
            .levels
            .get(level as usize)
            .and_then(|row| row.get(index as usize))
            .copied()
            .unwrap_or([0; 32]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// MTH straight from RFC 9162's definition, for comparison.
    fn naive(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&naive(&leaves[..k]), &naive(&leaves[k..]))
            }
        }
    }

    fn tree(n: usize) -> (MemoryTree, Vec<Hash>) {
        let mut t = MemoryTree::new();
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&(i as u64).to_be_bytes())).collect();
        for l in &leaves {
            t.push(*l);
        }
        (t, leaves)
    }

    fn unhex(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// The RFC 6962 reference leaves used by Certificate Transparency's test suites.
    #[test]
    fn roots_match_the_certificate_transparency_test_vectors() {
        let inputs = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ];
        let mut t = MemoryTree::new();
        for i in inputs {
            t.push(leaf_hash(&hex::decode(i).unwrap()));
        }
        let r = |n| root(&t, n).unwrap();
        assert_eq!(
            r(0),
            unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            r(1),
            unhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
        assert_eq!(
            r(8),
            unhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn roots_and_proofs_agree_with_the_definition(n in 1usize..300, seed in any::<u64>()) {
            let (t, leaves) = tree(n);
            for size in [1, n / 2 + 1, n] {
                prop_assert_eq!(root(&t, size as u64).unwrap(), naive(&leaves[..size]));
            }
            let size = n as u64;
            let index = seed % size;
            let head = root(&t, size).unwrap();
            let path = inclusion_proof(&t, index, size).unwrap();
            prop_assert!(verify_inclusion(&leaves[index as usize], index, size, &path, &head));
            // Another leaf, another index, or a changed sibling must fail.
            let other = (index + 1) % size;
            if other != index {
                prop_assert!(!verify_inclusion(&leaves[other as usize], index, size, &path, &head));
                prop_assert!(!verify_inclusion(&leaves[index as usize], other, size, &path, &head));
            }
            if let Some(first) = path.first() {
                let mut bad = path.clone();
                bad[0] = node_hash(first, first);
                prop_assert!(!verify_inclusion(&leaves[index as usize], index, size, &bad, &head));
            }
            let old = 1 + seed.rotate_left(17) % size;
            let old_head = root(&t, old).unwrap();
            let proof = consistency_proof(&t, old, size).unwrap();
            prop_assert!(verify_consistency(old, size, &old_head, &head, &proof));
            if old < size {
                // A rewritten old leaf (a different old head) is caught.
                let mut forged = leaves.clone();
                forged[(seed % old) as usize] = leaf_hash(b"rewritten");
                prop_assert!(!verify_consistency(old, size, &naive(&forged[..old as usize]), &head, &proof));
                prop_assert!(!verify_consistency(old, size, &old_head, &naive(&forged), &proof));
            }
        }
    }

    #[test]
    fn every_pair_of_sizes_is_consistent_in_a_small_tree() {
        let (t, _) = tree(40);
        for new in 1..=40u64 {
            let head = root(&t, new).unwrap();
            for old in 0..=new {
                let proof = consistency_proof(&t, old, new).unwrap();
                assert!(
                    verify_consistency(old, new, &root(&t, old).unwrap(), &head, &proof),
                    "{old} → {new}"
                );
            }
            for index in 0..new {
                let path = inclusion_proof(&t, index, new).unwrap();
                let leaf = t.complete(0, index).unwrap();
                assert!(verify_inclusion(&leaf, index, new, &path, &head), "{index} in {new}");
            }
        }
    }

    #[test]
    fn out_of_range_requests_are_errors_not_panics() {
        let (t, leaves) = tree(5);
        assert_eq!(inclusion_proof(&t, 5, 5), Err(ProofError::OutOfRange));
        assert_eq!(consistency_proof(&t, 6, 5), Err(ProofError::OutOfRange));
        assert!(!verify_inclusion(&leaves[0], 7, 5, &[], &root(&t, 5).unwrap()));
        assert!(!verify_consistency(3, 2, &[0; 32], &[0; 32], &[]));
    }

    #[test]
    fn push_reports_the_subtrees_it_completes() {
        let mut t = MemoryTree::new();
        assert_eq!(t.push(leaf_hash(b"a")).len(), 1);
        let made = t.push(leaf_hash(b"b"));
        assert_eq!(
            made.iter().map(|(l, i, _)| (*l, *i)).collect::<Vec<_>>(),
            vec![(0, 1), (1, 0)]
        );
        t.push(leaf_hash(b"c"));
        let made = t.push(leaf_hash(b"d"));
        assert_eq!(made.last().map(|(l, i, _)| (*l, *i)), Some((2, 0)));
        assert_eq!(t.size(), 4);
    }
}
