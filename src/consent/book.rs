//! Explicit consent records (including opt-outs) held in memory, so the hot path never waits on the
//! store: loaded at start, updated after every durable write.

use dashmap::DashMap;

use super::Purposes;
use crate::privacy::ConsentSubject;

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

/// Records by subject. Sharded internally: lookups never contend on one global lock.
#[derive(Debug, Default)]
pub struct ConsentBook {
    records: DashMap<ConsentSubject, Record>,
}

impl ConsentBook {
    /// The record of a subject, if any.
    pub fn get(&self, subject: &ConsentSubject) -> Option<Record> {
        self.records.get(subject).map(|r| r.value().clone())
    }

    /// Sets a subject's record unless a newer one is already held (writes may race across nodes).
    pub fn put(&self, subject: ConsentSubject, record: Record) {
        self.records
            .entry(subject)
            .and_modify(|r| {
                if record.recorded_at >= r.recorded_at {
                    *r = record.clone();
                }
            })
            .or_insert(record);
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
        self.records.iter().filter(|r| r.opted_out).count()
    }
}
