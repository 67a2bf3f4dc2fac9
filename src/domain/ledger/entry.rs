//! The consent log's entries: what a change records, and how it becomes a Merkle leaf
//! (`crate::domain::ledger::leaf`). The tree, checkpoints and proofs are in `crate::domain::ledger`; why the log is
//! a transparency log rather than a hash chain: `docs/decisions/002-consent-ledger.md`.

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::domain::consent::Purposes;
use crate::domain::ledger::leaf::{subject_commitment, Leaf, LeafError};
use crate::domain::ledger::merkle::{leaf_hash, Hash};
use crate::domain::privacy::ConsentSubject;

/// `source` of entries converted from the old chain whose source or policy version was free text.
pub const LEGACY: &str = "legacy";

/// What a log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    /// A consent choice.
    Consent,
    /// An opt-out of everything.
    OptOut,
    /// The visitor's entries were erased (GDPR art. 17); the leaf records that it happened.
    Erasure,
}

impl Action {
    /// Stored text (the leaf's `action`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses stored text.
    pub fn parse(s: &str) -> Option<Action> {
        s.parse().ok()
    }
}

/// RFC 3339 UTC with milliseconds, as leaves, receipts and exports show times.
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// How an entry's receipt id is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptId {
    /// The leaf index (16 hex digits) and then these random bytes (32 hex digits): unguessable, and
    /// rising with the log, so the unique index on receipt ids grows at its right edge instead of
    /// taking a write on a random page of a large index for every entry. The index it shows is on
    /// the receipt anyway.
    Fresh([u8; 16]),
    /// An id already handed out (an entry converted from the old hash-chain log: 32 random hex).
    Issued(String),
}

impl ReceiptId {
    /// A new id's random part.
    pub fn fresh() -> ReceiptId {
        let mut b = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
        ReceiptId::Fresh(b)
    }

    /// The id of the entry at `index`.
    fn at(self, index: u64) -> String {
        match self {
            ReceiptId::Fresh(random) => format!("{index:016x}{}", hex::encode(random)),
            ReceiptId::Issued(id) => id,
        }
    }
}

/// A change to append; the store gives it its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The receipt id given to the visitor.
    pub receipt_id: ReceiptId,
    /// Unix milliseconds.
    pub recorded_at: i64,
    /// Keyed hash of the visitor id (never the id).
    pub subject: ConsentSubject,
    /// Random per entry: the leaf commits to `SHA-256(nonce ‖ subject)`.
    pub nonce: [u8; 16],
    /// Consent, opt-out or erasure.
    pub action: Action,
    /// The purposes as recorded.
    pub purposes: Purposes,
    /// Who recorded it: one of `consent.sources`.
    pub source: String,
    /// Version of the privacy policy shown (`-` for an opt-out or erasure).
    pub policy_version: String,
}

/// A stored log entry: a leaf and what it was built from. It never holds the visitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Position in the tree, from 0.
    pub index: u64,
    /// Receipt id.
    pub receipt_id: String,
    /// Unix milliseconds.
    #[serde(skip)]
    pub recorded_at: i64,
    /// RFC 3339 UTC, exactly as in the leaf.
    pub time: String,
    /// Consent, opt-out or erasure.
    pub action: Action,
    /// Purposes recorded.
    pub purposes: Purposes,
    /// Who recorded it.
    pub source: String,
    /// Policy version.
    pub policy_version: String,
    /// `SHA-256(nonce ‖ keyed visitor hash)`, hex.
    #[serde(serialize_with = "hex32")]
    pub commitment: Hash,
    /// `SHA-256(0x00 ‖ leaf)`, hex.
    #[serde(serialize_with = "hex32")]
    pub leaf_hash: Hash,
}

fn hex32<S: serde::Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

impl Change {
    /// The entry this change becomes at `index`.
    pub fn into_entry(self, index: u64) -> Result<Entry, LeafError> {
        let commitment = subject_commitment(&self.nonce, self.subject.as_bytes());
        let time = rfc3339(self.recorded_at);
        let mut e = Entry {
            index,
            receipt_id: self.receipt_id.at(index),
            recorded_at: self.recorded_at,
            time,
            action: self.action,
            purposes: self.purposes,
            source: self.source,
            policy_version: self.policy_version,
            commitment,
            leaf_hash: [0; 32],
        };
        e.leaf_hash = leaf_hash(&e.leaf_bytes()?);
        Ok(e)
    }
}

impl Entry {
    /// The leaf as hashed into the tree.
    pub fn leaf(&self) -> Leaf<'_> {
        Leaf {
            index: self.index,
            time: &self.time,
            action: self.action.as_str(),
            purposes: self.purposes,
            source: &self.source,
            policy_version: &self.policy_version,
            subject: self.commitment,
        }
    }

    /// The leaf's canonical bytes.
    pub fn leaf_bytes(&self) -> Result<Vec<u8>, LeafError> {
        self.leaf().bytes()
    }

    /// Recomputes the leaf hash from the stored fields: `None` when they no longer encode.
    pub fn recomputed_hash(&self) -> Option<Hash> {
        self.leaf_bytes().ok().map(|b| leaf_hash(&b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change() -> Change {
        Change {
            receipt_id: ReceiptId::Fresh([9; 16]),
            recorded_at: 1_795_000_000_000,
            subject: ConsentSubject::from_hex(&hex::encode([7u8; 32])).unwrap(),
            nonce: [1; 16],
            action: Action::Consent,
            purposes: Purposes::ALL,
            source: "cmp".into(),
            policy_version: "2026-01".into(),
        }
    }

    #[test]
    fn an_entry_hashes_its_leaf_and_an_edit_shows() {
        let e = change().into_entry(4).unwrap();
        assert_eq!(e.recomputed_hash(), Some(e.leaf_hash));
        assert_eq!(e.receipt_id, format!("0000000000000004{}", "09".repeat(16)));
        assert_eq!(e.time, "2026-11-18T11:06:40.000Z");
        let mut edited = e.clone();
        edited.purposes.advertise = false;
        assert_ne!(edited.recomputed_hash(), Some(e.leaf_hash));
        let text = String::from_utf8(e.leaf_bytes().unwrap()).unwrap();
        assert!(
            !text.contains(&hex::encode([7u8; 32])),
            "the leaf never holds the keyed hash"
        );
    }

    #[test]
    fn a_free_text_source_cannot_be_encoded() {
        let mut c = change();
        c.source = "my banner".into();
        assert!(c.into_entry(0).is_err());
        assert_eq!(Action::parse("erasure"), Some(Action::Erasure));
        // Stored in every leaf: the names must never change.
        for (a, text) in [
            (Action::Consent, "consent"),
            (Action::OptOut, "opt_out"),
            (Action::Erasure, "erasure"),
        ] {
            assert_eq!((a.as_str(), Action::parse(text)), (text, Some(a)));
        }
        assert_eq!(Action::parse("Opt_Out"), None);
    }
}
