//! What a consent log leaf commits to, as canonical bytes.
//!
//! A leaf is plain text, one `name value` pair per line in a fixed order, so a compliance team can
//! recompute its hash with any SHA-256 tool. It commits to the visitor without containing them: the
//! `subject` line is `SHA-256(nonce ‖ keyed visitor hash)`, and the nonce is stored beside the leaf,
//! not in it. Erasing a visitor deletes the nonce and the keyed hash; the leaf and every proof over it
//! stay valid, and nobody can tell any more whose choice it was.

use sha2::{Digest, Sha256};

use super::merkle::{leaf_hash, Hash};
use crate::domain::consent::Purposes;

/// First line of every leaf: the format and its version.
pub const FORMAT: &str = "personify-consent/v1";

/// Why a leaf could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    /// A text field holds a character outside printable ASCII (or a space), which would make the
    /// encoding ambiguous. Values come from closed, configured sets, so this is a configuration bug.
    #[error("{0} is not a printable ASCII token")]
    NotAToken(&'static str),
}

/// The fields of one consent log leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf<'a> {
    /// Position in the log, from 0.
    pub index: u64,
    /// When it was recorded, RFC 3339 UTC with milliseconds.
    pub time: &'a str,
    /// `consent`, `opt_out`, …
    pub action: &'a str,
    /// The purposes as recorded.
    pub purposes: Purposes,
    /// Where the choice was made (a configured source).
    pub source: &'a str,
    /// The privacy policy version shown (a configured version).
    pub policy_version: &'a str,
    /// `SHA-256(nonce ‖ keyed visitor hash)`.
    pub subject: Hash,
}

/// `SHA-256(nonce ‖ keyed visitor hash)`: binds a leaf to a visitor only for whoever holds both.
pub fn subject_commitment(nonce: &[u8], visitor_key: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(nonce);
    h.update(visitor_key);
    h.finalize().into()
}

fn token(name: &'static str, v: &str) -> Result<(), LeafError> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(LeafError::NotAToken(name));
    }
    Ok(())
}

impl Leaf<'_> {
    /// The canonical bytes hashed into the tree.
    pub fn bytes(&self) -> Result<Vec<u8>, LeafError> {
        token("time", self.time)?;
        token("action", self.action)?;
        token("source", self.source)?;
        token("policy_version", self.policy_version)?;
        let p = self.purposes;
        let bit = |b: bool| if b { 1 } else { 0 };
        Ok(format!(
            "{FORMAT}\nindex {}\ntime {}\naction {}\npersonalize {}\nmeasure {}\nadvertise {}\nsource {}\npolicy_version {}\nsubject {}\n",
            self.index,
            self.time,
            self.action,
            bit(p.personalize),
            bit(p.measure),
            bit(p.advertise),
            self.source,
            self.policy_version,
            hex::encode(self.subject),
        )
        .into_bytes())
    }

    /// The leaf's hash in the tree, `SHA-256(0x00 ‖ bytes)`.
    pub fn hash(&self) -> Result<Hash, LeafError> {
        Ok(leaf_hash(&self.bytes()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf() -> Leaf<'static> {
        Leaf {
            index: 3,
            time: "2026-11-23T10:00:00.000Z",
            action: "consent",
            purposes: Purposes {
                personalize: true,
                measure: true,
                advertise: false,
            },
            source: "cmp",
            policy_version: "2026-11",
            subject: subject_commitment(&[1; 16], &[2; 32]),
        }
    }

    #[test]
    fn the_encoding_is_one_line_per_field_in_a_fixed_order() {
        let text = String::from_utf8(leaf().bytes().unwrap()).unwrap();
        let names: Vec<&str> = text.lines().skip(1).map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(
            names,
            [
                "index",
                "time",
                "action",
                "personalize",
                "measure",
                "advertise",
                "source",
                "policy_version",
                "subject"
            ]
        );
        assert!(text.starts_with("personify-consent/v1\nindex 3\n"));
        assert!(text.contains("\nadvertise 0\n"));
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = leaf().hash().unwrap();
        let mut l = leaf();
        l.purposes.advertise = true;
        assert_ne!(l.hash().unwrap(), base);
        let mut l = leaf();
        l.index = 4;
        assert_ne!(l.hash().unwrap(), base);
        let mut l = leaf();
        l.subject = subject_commitment(&[9; 16], &[2; 32]);
        assert_ne!(l.hash().unwrap(), base, "another nonce, another commitment");
    }

    #[test]
    fn a_value_that_could_forge_a_line_is_refused() {
        let mut l = leaf();
        l.source = "cmp\nadvertise 1";
        assert_eq!(l.bytes(), Err(LeafError::NotAToken("source")));
        l.source = "";
        assert_eq!(l.bytes(), Err(LeafError::NotAToken("source")));
    }
}
