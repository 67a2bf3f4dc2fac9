//! Explicit consent records (including opt-outs) held in memory, so the hot path never waits on the
//! store: loaded at start, updated after every durable write and from other nodes' changes.
//!
//! Compact on purpose (24 bytes a record plus the table's slack): every node holds every record,
//! and a large site has millions. The key is the first 128 bits of the keyed visitor hash (an HMAC
//! output, so collisions among even 10^9 visitors are beyond reach) and the value packs the purposes,
//! the opt-out flag and the time into one `u64`.

use std::hash::{BuildHasherDefault, Hasher};

use dashmap::DashMap;

use super::Purposes;
use crate::domain::privacy::{ConsentSubject, Keyring, VisitorId};

/// The current explicit choice of one visitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Purposes granted.
    pub purposes: Purposes,
    /// Whether it came from an opt-out.
    pub opted_out: bool,
    /// Unix milliseconds of the choice.
    pub recorded_at: i64,
}

impl Record {
    fn pack(&self) -> u64 {
        let p = self.purposes;
        let flags = u64::from(p.personalize)
            | u64::from(p.measure) << 1
            | u64::from(p.advertise) << 2
            | u64::from(self.opted_out) << 3;
        (u64::try_from(self.recorded_at).unwrap_or(0) << 4) | flags
    }

    fn unpack(v: u64) -> Record {
        Record {
            purposes: Purposes {
                personalize: v & 1 != 0,
                measure: v & 2 != 0,
                advertise: v & 4 != 0,
            },
            opted_out: v & 8 != 0,
            recorded_at: i64::try_from(v >> 4).unwrap_or(i64::MAX),
        }
    }
}

/// Keys are already uniformly random: the hash is their first eight bytes.
#[derive(Default)]
struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for (i, b) in bytes.iter().take(8).enumerate() {
            self.0 ^= u64::from(*b) << (8 * i);
        }
    }

    // The slice length a `[u8; 16]` hashes first says nothing.
    fn write_usize(&mut self, _: usize) {}
}

type Key = [u8; 16];

fn key(subject: &ConsentSubject) -> Key {
    let mut k = [0u8; 16];
    k.copy_from_slice(&subject.as_bytes()[..16]);
    k
}

/// Records by subject. Sharded internally: lookups never contend on one global lock.
#[derive(Default)]
pub struct ConsentBook {
    records: DashMap<Key, u64, BuildHasherDefault<PrefixHasher>>,
}

impl std::fmt::Debug for ConsentBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentBook").field("records", &self.len()).finish()
    }
}

impl ConsentBook {
    /// The record of a subject, if any.
    pub fn get(&self, subject: &ConsentSubject) -> Option<Record> {
        self.records.get(&key(subject)).map(|r| Record::unpack(*r.value()))
    }

    /// A visitor's record under the current secret, else under the newest earlier generation that
    /// has one (a rotation must not orphan an opt-out). Without earlier generations this is one lookup.
    pub fn lookup(&self, keyring: &Keyring, id: &VisitorId) -> Option<Record> {
        self.lookup_subject(keyring, id, &keyring.consent_subject(id))
    }

    /// [`ConsentBook::lookup`] when the caller already holds the id's current subject.
    pub fn lookup_subject(&self, keyring: &Keyring, id: &VisitorId, subject: &ConsentSubject) -> Option<Record> {
        self.get(subject)
            .or_else(|| keyring.previous_consent_subjects(id).find_map(|s| self.get(&s)))
    }

    /// Sets a subject's record unless a newer one is already held (writes may race across nodes).
    pub fn put(&self, subject: &ConsentSubject, record: Record) {
        let packed = record.pack();
        self.records
            .entry(key(subject))
            .and_modify(|r| {
                if record.recorded_at >= Record::unpack(*r).recorded_at {
                    *r = packed;
                }
            })
            .or_insert(packed);
    }

    /// Sets a subject's record whatever is held (replaying the log, where order is authoritative).
    pub fn set(&self, subject: &ConsentSubject, record: Record) {
        self.records.insert(key(subject), record.pack());
    }

    /// Forgets a subject (their data was erased and they had not opted out).
    pub fn remove(&self, subject: &ConsentSubject) {
        self.records.remove(&key(subject));
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Number of opt-outs.
    pub fn opt_outs(&self) -> usize {
        self.records.iter().filter(|r| r.value() & 8 != 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_packing_and_a_newer_one_wins() {
        let book = ConsentBook::default();
        let s = ConsentSubject::from_hex(&hex::encode([9u8; 32])).unwrap();
        let r = Record {
            purposes: Purposes {
                personalize: true,
                measure: false,
                advertise: true,
            },
            opted_out: false,
            recorded_at: 1_795_000_000_123,
        };
        book.put(&s, r.clone());
        assert_eq!(book.get(&s), Some(r.clone()));
        let older = Record {
            recorded_at: 5,
            opted_out: true,
            purposes: Purposes::NONE,
        };
        book.put(&s, older);
        assert_eq!(book.get(&s), Some(r), "an older record never replaces a newer one");
        assert_eq!(book.opt_outs(), 0);
        book.remove(&s);
        assert!(book.is_empty());
    }
}
