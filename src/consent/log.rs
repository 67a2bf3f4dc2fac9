//! The consent log: append-only, hash-chained. Each entry holds the SHA-256 of the previous entry
//! and of its own canonical content, so any edit, deletion or reordering breaks the chain.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Purposes;

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A consent choice.
    Consent,
    /// An opt-out of everything.
    OptOut,
}

impl Action {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Consent => "consent",
            Action::OptOut => "opt_out",
        }
    }

    /// Parses stored text.
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "consent" => Some(Action::Consent),
            "opt_out" => Some(Action::OptOut),
            _ => None,
        }
    }
}

/// A change to append: everything but the chain fields, which the store fills in under its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Random receipt id given to the visitor.
    pub receipt_id: String,
    /// Unix milliseconds.
    pub recorded_at: i64,
    /// Hex keyed hash of the visitor id (never the id).
    pub subject: String,
    /// Consent or opt-out.
    pub action: Action,
    /// The purposes as recorded.
    pub purposes: Purposes,
    /// Who recorded it: one of `consent.sources` (`cmp`, `banner`, `preference_centre`, `api`).
    pub source: String,
    /// Version of the privacy policy shown.
    pub policy_version: String,
}

/// A stored log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Receipt id.
    pub receipt_id: String,
    /// Unix milliseconds.
    pub recorded_at: i64,
    /// Hex keyed hash of the visitor id.
    pub subject: String,
    /// Consent or opt-out.
    pub action: Action,
    /// Purposes recorded.
    pub purposes: Purposes,
    /// Who recorded it.
    pub source: String,
    /// Policy version.
    pub policy_version: String,
    /// `entry_hash` of the previous entry ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// SHA-256 of this entry's canonical content.
    pub entry_hash: String,
}

impl Change {
    /// The entry this change becomes at `seq` after `prev_hash`.
    pub fn into_entry(self, seq: i64, prev_hash: String) -> Entry {
        let mut e = Entry {
            seq,
            receipt_id: self.receipt_id,
            recorded_at: self.recorded_at,
            subject: self.subject,
            action: self.action,
            purposes: self.purposes,
            source: self.source,
            policy_version: self.policy_version,
            prev_hash,
            entry_hash: String::new(),
        };
        e.entry_hash = e.compute_hash();
        e
    }
}

impl Entry {
    /// SHA-256 (hex) of the canonical content: a JSON array of every field but `entry_hash`, in a
    /// fixed order. JSON escaping keeps field boundaries unambiguous.
    pub fn compute_hash(&self) -> String {
        let p = self.purposes;
        let canonical = serde_json::json!([
            self.seq,
            self.receipt_id,
            self.recorded_at,
            self.subject,
            self.action.as_str(),
            p.personalize,
            p.measure,
            p.advertise,
            self.source,
            self.policy_version,
            self.prev_hash,
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// The outcome of verifying a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Whether every entry checks out.
    pub ok: bool,
    /// Entries checked.
    pub entries: u64,
    /// `entry_hash` of the last good entry.
    pub head: String,
    /// First entry that fails, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken_seq: Option<i64>,
    /// Why it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Incremental verifier: feed entries in `seq` order, page by page.
#[derive(Debug, Clone)]
pub struct Verifier {
    expected_seq: i64,
    prev_hash: String,
    entries: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            expected_seq: 1,
            prev_hash: GENESIS.to_string(),
            entries: 0,
        }
    }
}

impl Verifier {
    /// Checks the next entry; `Err` carries the failed verification.
    pub fn push(&mut self, e: &Entry) -> Result<(), Verification> {
        let fail = |reason: String| Verification {
            ok: false,
            entries: self.entries,
            head: self.prev_hash.clone(),
            first_broken_seq: Some(e.seq),
            reason: Some(reason),
        };
        if e.seq != self.expected_seq {
            return Err(fail(format!(
                "expected seq {}, found {} (an entry is missing or reordered)",
                self.expected_seq, e.seq
            )));
        }
        if e.prev_hash != self.prev_hash {
            return Err(fail("prev_hash does not match the previous entry's hash".into()));
        }
        if e.compute_hash() != e.entry_hash {
            return Err(fail(
                "entry_hash does not match the entry's content (the entry was altered)".into(),
            ));
        }
        self.expected_seq += 1;
        self.prev_hash = e.entry_hash.clone();
        self.entries += 1;
        Ok(())
    }

    /// The result once every entry has been pushed.
    pub fn finish(self) -> Verification {
        Verification {
            ok: true,
            entries: self.entries,
            head: self.prev_hash,
            first_broken_seq: None,
            reason: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(n: u8) -> Change {
        Change {
            receipt_id: format!("r{n}"),
            recorded_at: 1_795_000_000_000 + i64::from(n),
            subject: hex::encode([n; 32]),
            action: Action::Consent,
            purposes: Purposes::ALL,
            source: "cmp".into(),
            policy_version: "2026-01".into(),
        }
    }

    #[test]
    fn a_chain_verifies_and_a_tampered_entry_is_named() {
        let mut chain = Vec::new();
        let mut prev = GENESIS.to_string();
        for n in 1..=5u8 {
            let e = change(n).into_entry(i64::from(n), prev);
            prev = e.entry_hash.clone();
            chain.push(e);
        }
        let mut v = Verifier::default();
        chain.iter().try_for_each(|e| v.push(e)).unwrap();
        assert_eq!(v.finish().entries, 5);

        let mut tampered = chain.clone();
        tampered[2].purposes.advertise = false;
        let mut v = Verifier::default();
        let err = tampered.iter().try_for_each(|e| v.push(e)).unwrap_err();
        assert_eq!(err.first_broken_seq, Some(3));

        let mut removed = chain.clone();
        removed.remove(1);
        let mut v = Verifier::default();
        assert_eq!(
            removed.iter().try_for_each(|e| v.push(e)).unwrap_err().first_broken_seq,
            Some(3)
        );
    }
}
