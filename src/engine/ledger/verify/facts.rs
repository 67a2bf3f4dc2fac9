//! What `verify` keeps of each leaf between its passes (8 bytes an entry), and how pass 3 splits the
//! visitors into ranges it can hold at once.

use crate::domain::consent::Purposes;
use crate::domain::ledger::entry::Action;
use crate::store::{StoredRecord, SubjectRange};

use super::PAGE;

/// What pass 1 keeps of each leaf for the records check, packed in 8 bytes so that 10M entries
/// cost 80 MB (the visitor is not kept: pass 3 reads it back, a range of visitors at a time).
/// Bits 0–2: purposes; 3: an opt-out; 4: an erasure; 5: a visitor link whose commitment holds;
/// 6: the time does not fit; 8–63: `recorded_at`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Fact(u64);

impl Fact {
    const OPT_OUT: u64 = 1 << 3;
    const ERASURE: u64 = 1 << 4;
    const LINKED: u64 = 1 << 5;
    const BAD_TIME: u64 = 1 << 6;

    pub(super) fn new(purposes: Purposes, action: Action, linked: bool, recorded_at: i64) -> Fact {
        let mut bits =
            u64::from(purposes.personalize) | u64::from(purposes.measure) << 1 | u64::from(purposes.advertise) << 2;
        bits |= match action {
            Action::OptOut => Fact::OPT_OUT,
            Action::Erasure => Fact::ERASURE,
            _ => 0,
        };
        if linked {
            bits |= Fact::LINKED;
        }
        match u64::try_from(recorded_at).ok().filter(|t| *t < 1 << 56) {
            Some(t) => Fact(bits | t << 8),
            None => Fact(bits | Fact::BAD_TIME),
        }
    }

    /// The leaf of a visitor's link that sets their record: linked and not an erasure.
    pub(super) fn sets_record(self) -> bool {
        self.0 & (Fact::LINKED | Fact::ERASURE) == Fact::LINKED
    }

    pub(super) fn is_erasure(self) -> bool {
        self.0 & Fact::ERASURE != 0
    }

    /// Whether `r` says what this leaf says.
    pub(super) fn matches(self, r: &StoredRecord) -> bool {
        self.0 & Fact::BAD_TIME == 0
            && u64::try_from(r.recorded_at).ok() == Some(self.0 >> 8)
            && Fact::new(
                r.purposes,
                if r.opted_out { Action::OptOut } else { Action::Consent },
                true,
                r.recorded_at,
            )
            .0 & 0xf
                == self.0 & 0xf
    }
}

/// The packed leaves, by index. Indexes far beyond the ones read (an edited index) are not kept:
/// the gap would be memory for nothing, and the entry is reported as out of order already.
#[derive(Default)]
pub(super) struct Facts(Vec<Fact>);

impl Facts {
    /// Room for `n` leaves.
    pub(super) fn with_capacity(n: usize) -> Facts {
        Facts(Vec::with_capacity(n))
    }

    pub(super) fn put(&mut self, index: u64, fact: Fact) {
        let Ok(i) = usize::try_from(index) else { return };
        if i < self.0.len() {
            self.0[i] = fact;
        } else if i - self.0.len() <= PAGE as usize {
            self.0.resize(i, Fact::default());
            self.0.push(fact);
        }
    }

    pub(super) fn get(&self, index: i64) -> Option<Fact> {
        usize::try_from(index).ok().and_then(|i| self.0.get(i).copied())
    }
}

/// Visitors per range in pass 3 (about): the range's links are what pass 3 holds at once.
const VISITORS_PER_RANGE: u64 = 16_384;

/// Consecutive ranges of subjects that cover every stored subject, by hex prefix, enough of them
/// that each holds about [`VISITORS_PER_RANGE`] of `entries` visitors.
pub(super) fn subject_ranges(entries: u64) -> Vec<SubjectRange> {
    let mut digits = 0u32;
    while digits < 4 && entries / 16u64.pow(digits) > VISITORS_PER_RANGE {
        digits += 1;
    }
    let n = 16u64.pow(digits);
    let prefix = |i: u64| format!("{i:0width$x}", width = digits as usize);
    (0..n)
        .map(|i| SubjectRange {
            from: if i == 0 { String::new() } else { prefix(i) },
            to: (i + 1 < n).then(|| prefix(i + 1)),
        })
        .collect()
}

/// The bytes of a stored keyed hash (64 hex digits); `None` for anything else.
pub(super) fn key_of(subject: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(subject, &mut out).ok().map(|()| out)
}
