//! The right edge of the tree: the complete subtrees that make up the first `size` leaves, one per
//! set bit of `size`, largest first. It is all an append needs: pushing a leaf merges equal-sized
//! peaks, and each merge is a complete subtree the store keeps for proofs. The root is their right
//! fold, so a tree head costs log2(n) stored hashes, not n leaves.

use super::merkle::{empty_root, node_hash, Hash};

/// Why a frontier could not be rebuilt from stored hashes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} stored subtree hashes for the tree's edge, found {found}")]
pub struct FrontierError {
    /// One per set bit of the size.
    pub expected: usize,
    /// What the store had.
    pub found: usize,
}

/// A complete subtree that an append created: `(level, index, hash)`.
pub type Made = (u32, u64, Hash);

/// The peaks of a tree of `size` leaves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// `(level, index)` of each peak of a tree of `size` leaves, largest first.
    pub fn positions(size: u64) -> Vec<(u32, u64)> {
        let mut out = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            let width = 1u64 << level;
            if size & width != 0 {
                out.push((level, start >> level));
                start += width;
            }
        }
        out
    }

    /// Rebuilds the frontier from the hashes at [`Frontier::positions`], in that order.
    pub fn from_peaks(size: u64, peaks: Vec<Hash>) -> Result<Frontier, FrontierError> {
        let expected = size.count_ones() as usize;
        if peaks.len() != expected {
            return Err(FrontierError {
                expected,
                found: peaks.len(),
            });
        }
        Ok(Frontier { size, peaks })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; returns every complete subtree it completed, the leaf itself first.
    pub fn push(&mut self, leaf: Hash) -> Vec<Made> {
        let mut made = vec![(0, self.size, leaf)];
        let (mut hash, mut level, mut index) = (leaf, 0u32, self.size);
        // An odd index closes a pair with the peak before it, and so on up the levels.
        while index & 1 == 1 {
            let Some(left) = self.peaks.pop() else { break };
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            made.push((level, index, hash));
        }
        self.peaks.push(hash);
        self.size += 1;
        made
    }

    /// The RFC 9162 root hash of the tree.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else { return empty_root() };
        peaks.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::merkle::{leaf_hash, root, MemoryTree, Subtrees};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_frontier_agrees_with_the_full_tree(n in 0usize..300) {
            let mut f = Frontier::new();
            let mut t = MemoryTree::new();
            for i in 0..n {
                let leaf = leaf_hash(&(i as u64).to_le_bytes());
                let made = f.push(leaf);
                prop_assert_eq!(made, t.push(leaf));
                prop_assert_eq!(f.root(), root(&t, i as u64 + 1).unwrap());
            }
            // Rebuilt from stored peaks, it is the same frontier.
            let peaks = Frontier::positions(n as u64)
                .into_iter()
                .map(|(l, i)| t.complete(l, i).unwrap())
                .collect();
            prop_assert_eq!(Frontier::from_peaks(n as u64, peaks).unwrap(), f);
        }
    }

    #[test]
    fn positions_tile_the_tree_from_the_left() {
        assert_eq!(Frontier::positions(0), vec![]);
        assert_eq!(Frontier::positions(1), vec![(0, 0)]);
        assert_eq!(Frontier::positions(6), vec![(2, 0), (1, 2)]);
        assert_eq!(Frontier::positions(7), vec![(2, 0), (1, 2), (0, 6)]);
        assert!(Frontier::from_peaks(3, vec![[0; 32]]).is_err());
    }
}
