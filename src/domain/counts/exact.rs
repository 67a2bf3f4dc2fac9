//! Exact unit counting for experiments: a visitor becomes a 64-bit keyed hash under the experiment's
//! key, and a count is the size of a set of those hashes. Sets merge exactly (a union), so nodes and
//! flushes add up without the ~0.8% error of a HyperLogLog estimate, which is as large as the sampling
//! error of an arm at 10⁵ visitors.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The unit of an experiment count: the first 8 bytes (big-endian) of
/// HMAC-SHA256(experiment_key, visitor). Keyed per experiment, so two experiments' sets cannot be
/// joined on their values; 64 bits, so the chance that two of 10⁷ visitors collide is ~3·10⁻⁶.
pub fn unit_hash(experiment_key: &[u8; 32], visitor: &[u8; 32]) -> u64 {
    UnitKey::new(experiment_key).unit(visitor)
}

/// An experiment key made ready to hash units: keying HMAC hashes two blocks (half the cost of a
/// unit), so the counting path keys once per experiment instead of once per exposure.
#[derive(Clone)]
pub struct UnitKey(Hmac<Sha256>);

impl std::fmt::Debug for UnitKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnitKey(<redacted>)")
    }
}

impl UnitKey {
    /// The key of one experiment.
    pub fn new(experiment_key: &[u8; 32]) -> UnitKey {
        // HMAC accepts a key of any length, so construction cannot fail.
        UnitKey(
            <Hmac<Sha256> as Mac>::new_from_slice(experiment_key)
                .unwrap_or_else(|_| unreachable!("HMAC takes any key length")),
        )
    }

    /// [`unit_hash`] of `visitor` under this key.
    pub fn unit(&self, visitor: &[u8; 32]) -> u64 {
        let mut mac = self.0.clone();
        mac.update(visitor);
        let tag = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&tag[..8]);
        u64::from_be_bytes(first)
    }
}

/// Hashes a unit hash for the table: the values are already uniform, so one multiply-xorshift
/// spreads them over the buckets without SipHash's cost (a quarter of an insert at 10⁷ units).
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitHasher;

/// The state of [`UnitHasher`].
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitHasherState(u64);

impl BuildHasher for UnitHasher {
    type Hasher = UnitHasherState;
    fn build_hasher(&self) -> UnitHasherState {
        UnitHasherState(0)
    }
}

impl Hasher for UnitHasherState {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        let z = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z ^ (z >> 29)
    }
}

/// A set of units: the in-memory delta between flushes, and what the store unions across nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitSet(HashSet<u64, UnitHasher>);

impl UnitSet {
    /// An empty set.
    pub fn new() -> UnitSet {
        UnitSet::default()
    }

    /// An empty set with room for `n` units.
    pub fn with_capacity(n: usize) -> UnitSet {
        UnitSet(HashSet::with_capacity_and_hasher(n, UnitHasher))
    }

    /// Adds a unit; `true` when it was not there yet.
    pub fn insert(&mut self, unit: u64) -> bool {
        self.0.insert(unit)
    }

    /// Removes a unit (erasure); `true` when it was there.
    pub fn remove(&mut self, unit: u64) -> bool {
        self.0.remove(&unit)
    }

    /// Whether the unit is in the set.
    pub fn contains(&self, unit: u64) -> bool {
        self.0.contains(&unit)
    }

    /// Unions `other` into `self`.
    pub fn merge(&mut self, other: &UnitSet) {
        self.0
            .reserve(other.0.len().saturating_sub(self.0.capacity() - self.0.len()));
        self.0.extend(other.0.iter().copied());
    }

    /// Number of distinct units.
    pub fn len(&self) -> u64 {
        self.0.len() as u64
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The units, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().copied()
    }

    /// Approximate heap bytes held: one 8-byte slot and one control byte per bucket.
    pub fn memory_bytes(&self) -> usize {
        self.0.capacity() * (std::mem::size_of::<u64>() + 1)
    }

    /// Empties the set, keeping its memory (a flushed delta starts again).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl FromIterator<u64> for UnitSet {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> UnitSet {
        let mut set = UnitSet::new();
        set.0.extend(iter);
        set
    }
}

impl Extend<u64> for UnitSet {
    fn extend<I: IntoIterator<Item = u64>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_hash_is_the_first_eight_bytes_of_the_hmac() {
        // Computed independently: hmac.new(key, visitor, "sha256").hexdigest()[:16] in Python.
        assert_eq!(unit_hash(&[0x0b; 32], &[0u8; 32]), 0xabf0_195c_f7a5_03e6);
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let visitor: [u8; 32] = std::array::from_fn(|i| 32 + i as u8);
        assert_eq!(unit_hash(&key, &visitor), 0x6221_5de7_bddc_ea7e);
        assert_eq!(UnitKey::new(&key).unit(&visitor), 0x6221_5de7_bddc_ea7e);
    }

    #[test]
    fn sets_count_distinct_units_and_merge_exactly() {
        let mut a: UnitSet = (0..1000u64).collect();
        let b: UnitSet = (500..1500u64).collect();
        assert!(!a.insert(5), "a unit counts once");
        a.merge(&b);
        assert_eq!(a.len(), 1500);
        assert!(a.remove(7));
        assert!(!a.remove(7));
        assert_eq!(a.len(), 1499);
        assert!(!a.contains(7) && a.contains(8));
        assert_eq!(a.iter().count(), 1499);
        a.clear();
        assert!(a.is_empty());
    }
}
