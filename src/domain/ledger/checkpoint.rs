//! Signed tree heads in the C2SP `tlog-checkpoint` format, signed as a C2SP `signed-note` with an
//! Ed25519 log key, and the verifier key (`vkey`) that lets anyone check them offline.
//!
//! ```text
//! personify.bank.example/consent-log      ← origin
//! 1024                                    ← tree size
//! zLwJt8nq…=                              ← base64 root hash
//!
//! — personify.bank.example/consent-log AbCdEf…   ← key name, base64(key id ‖ signature)
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// Signature type byte for Ed25519 in signed notes.
const ED25519: u8 = 0x01;
/// The em dash that opens a signature line.
const DASH: &str = "\u{2014} ";

/// A tree head: which log, how many entries, and the root hash over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (its name; also the signing key's name).
    pub origin: String,
    /// Number of entries covered.
    pub size: u64,
    /// RFC 9162 root hash of those entries.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, size and base64 root, each ending in a newline.
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root))
    }
}

/// Why a signed checkpoint was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Not a note: no blank line before signatures, control characters, or a malformed line.
    #[error("not a signed note in the C2SP format")]
    Malformed,
    /// The body is not origin / decimal size / base64 32-byte root.
    #[error("the checkpoint body is not origin, size and root hash")]
    Body,
    /// No signature line from the expected key.
    #[error("no signature from the log key")]
    NoSignature,
    /// The signature from the expected key does not verify.
    #[error("the log key's signature does not verify")]
    BadSignature,
    /// The verifier key is not `name+hex key id+base64(0x01 ‖ public key)`.
    #[error("the verifier key is malformed")]
    VerifierKey,
}

/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4]`.
fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519]);
    h.update(public.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The Ed25519 key that signs checkpoints, with the name it signs under.
pub struct LogKey {
    /// Key name (the log origin).
    name: String,
    /// The private key.
    signing: SigningKey,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogKey({}, <private>)", self.name)
    }
}

impl LogKey {
    /// A key from its 32-byte seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> LogKey {
        LogKey {
            name: name.to_string(),
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            public: self.signing.verifying_key(),
        }
    }

    /// The checkpoint as a signed note.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let text = checkpoint.text();
        let sig = self.signing.sign(text.as_bytes());
        let mut blob = key_id(&self.name, &self.signing.verifying_key()).to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        format!("{text}\n{DASH}{} {}\n", self.name, B64.encode(blob))
    }
}

/// A public verifier key: checks notes signed by one [`LogKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    /// Key name.
    pub name: String,
    /// Ed25519 public key.
    pub public: VerifyingKey,
}

impl NoteVerifier {
    /// `name+hex key id+base64(0x01 ‖ public key)`, the form Go's `note` package and others read.
    pub fn vkey(&self) -> String {
        let mut blob = vec![ED25519];
        blob.extend_from_slice(self.public.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, &self.public)),
            B64.encode(blob)
        )
    }

    /// Parses a `vkey` string.
    pub fn parse(vkey: &str) -> Result<NoteVerifier, CheckpointError> {
        // Names never contain `+`; the base64 key may, so split from the left.
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CheckpointError::VerifierKey);
        };
        let blob = B64.decode(b64).map_err(|_| CheckpointError::VerifierKey)?;
        let (&kind, key) = blob.split_first().ok_or(CheckpointError::VerifierKey)?;
        let key: [u8; 32] = key.try_into().map_err(|_| CheckpointError::VerifierKey)?;
        let public = VerifyingKey::from_bytes(&key).map_err(|_| CheckpointError::VerifierKey)?;
        if kind != ED25519 || name.is_empty() || hex::encode(key_id(name, &public)) != id.to_ascii_lowercase() {
            return Err(CheckpointError::VerifierKey);
        }
        Ok(NoteVerifier {
            name: name.to_string(),
            public,
        })
    }

    /// Verifies a signed checkpoint note and returns its body.
    pub fn open(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(CheckpointError::Malformed);
        }
        let (text, sigs) = note.rsplit_once("\n\n").ok_or(CheckpointError::Malformed)?;
        let text = format!("{text}\n");
        let want = key_id(&self.name, &self.public);
        let mut found = false;
        for line in sigs.lines() {
            let rest = line.strip_prefix(DASH).ok_or(CheckpointError::Malformed)?;
            let (name, b64) = rest.split_once(' ').ok_or(CheckpointError::Malformed)?;
            let blob = B64.decode(b64).map_err(|_| CheckpointError::Malformed)?;
            if name != self.name || blob.len() != 68 || blob[..4] != want {
                continue; // another key's signature: ignored, as the format requires
            }
            let sig = Signature::from_slice(&blob[4..]).map_err(|_| CheckpointError::BadSignature)?;
            self.public
                .verify(text.as_bytes(), &sig)
                .map_err(|_| CheckpointError::BadSignature)?;
            found = true;
        }
        if !found {
            return Err(CheckpointError::NoSignature);
        }
        let mut lines = text.lines();
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(CheckpointError::Body);
        };
        let size: u64 = size.parse().map_err(|_| CheckpointError::Body)?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(CheckpointError::Body)?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LogKey {
        LogKey::from_seed("personify.test/consent-log", [7; 32])
    }

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "personify.test/consent-log".into(),
            size: 42,
            root: [9; 32],
        }
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_verifier_key() {
        let note = key().sign(&cp());
        assert!(note.starts_with("personify.test/consent-log\n42\n"));
        assert!(note.contains("\n\n\u{2014} personify.test/consent-log "));
        let v = NoteVerifier::parse(&key().verifier().vkey()).unwrap();
        assert_eq!(v.open(&note), Ok(cp()));
    }

    #[test]
    fn an_edited_checkpoint_or_another_key_is_refused() {
        let note = key().sign(&cp());
        let v = key().verifier();
        let edited = note.replacen("\n42\n", "\n41\n", 1);
        assert_eq!(v.open(&edited), Err(CheckpointError::BadSignature));
        let other = LogKey::from_seed("personify.test/consent-log", [8; 32]).verifier();
        assert_eq!(other.open(&note), Err(CheckpointError::NoSignature));
        assert_eq!(v.open("no blank line"), Err(CheckpointError::Malformed));
    }

    #[test]
    fn every_verifier_key_round_trips_even_when_its_base64_holds_a_plus() {
        for seed in 0..64u8 {
            let v = LogKey::from_seed("personify.test/consent-log", [seed; 32]).verifier();
            assert_eq!(NoteVerifier::parse(&v.vkey()), Ok(v));
        }
    }

    #[test]
    fn malformed_verifier_keys_are_refused() {
        let good = key().verifier().vkey();
        assert!(NoteVerifier::parse(&good).is_ok());
        for bad in ["", "a+b", "name+00000000+AAAA", &good.replacen('+', "+ff", 1)] {
            assert_eq!(NoteVerifier::parse(bad), Err(CheckpointError::VerifierKey), "{bad}");
        }
    }
}
