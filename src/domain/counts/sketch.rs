//! HyperLogLog sketches with a fixed, deterministic hasher, stored in a versioned, checksummed
//! envelope so a corrupt or foreign blob is an error, never a panic or a silently wrong count.

use std::hash::{BuildHasher, Hasher};

use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// HLL precision: 2^14 registers, ~0.8% standard error.
pub const PRECISION: u8 = 14;
/// Envelope format version.
pub const FORMAT: u8 = 1;
/// Identifies [`Mix64`]: a sketch hashed differently cannot be merged.
pub const HASHER_ID: &str = "personify-mix64-v1";
const MAGIC: &[u8; 4] = b"PHLL";

/// A deterministic 64-bit hasher (never `RandomState`, whose sketches cannot be merged across
/// processes). Inputs are already keyed HMACs, so a fast mixer is enough for HLL's uniformity.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Mix64;

/// The hasher state of [`Mix64`].
#[derive(Debug, Clone, Copy)]
pub struct Mix64Hasher(u64);

impl BuildHasher for Mix64 {
    type Hasher = Mix64Hasher;
    fn build_hasher(&self) -> Mix64Hasher {
        Mix64Hasher(0x9E37_79B9_7F4A_7C15)
    }
}

impl Hasher for Mix64Hasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(buf))
                .wrapping_mul(0xBF58_476D_1CE4_E5B9)
                .rotate_left(31);
        }
    }

    fn finish(&self) -> u64 {
        // splitmix64's finaliser: every input bit reaches every output bit.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A distinct-count sketch of visitor keys.
#[derive(Debug, Clone)]
pub struct Sketch(HyperLogLogPlus<[u8; 32], Mix64>);

/// Why a stored sketch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SketchError {
    /// Not an envelope, or a truncated one.
    #[error("not a personify sketch envelope")]
    NotAnEnvelope,
    /// Another format, precision or hasher.
    #[error("foreign sketch: format {format}, precision {precision}, hasher {hasher:?}")]
    Foreign {
        /// Format found.
        format: u8,
        /// Precision found.
        precision: u8,
        /// Hasher id found.
        hasher: String,
    },
    /// The checksum does not match the payload.
    #[error("sketch checksum mismatch (corrupt blob)")]
    Checksum,
    /// The payload does not decode into a usable sketch.
    #[error("sketch payload does not decode")]
    Payload,
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::new()
    }
}

impl Sketch {
    /// An empty sketch.
    pub fn new() -> Sketch {
        // PRECISION is within the crate's 4..=18, so construction cannot fail.
        Sketch(HyperLogLogPlus::new(PRECISION, Mix64).unwrap_or_else(|_| unreachable!("precision 14 is valid")))
    }

    /// Adds a key.
    pub fn insert(&mut self, key: &[u8; 32]) {
        self.0.insert(key);
    }

    /// Estimated distinct count.
    pub fn count(&mut self) -> f64 {
        self.0.count()
    }

    /// Unions `other` into `self`.
    pub fn merge(&mut self, other: &Sketch) {
        // Both are built here with the same precision; the only error is a precision mismatch.
        let _ = self.0.merge(&other.0);
    }

    /// The envelope: magic, format, precision, hasher id, SHA-256 of the payload, postcard payload.
    pub fn to_envelope(&self) -> Vec<u8> {
        let payload = postcard::to_allocvec(&self.0).unwrap_or_default();
        let mut out = Vec::with_capacity(payload.len() + 64);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.push(PRECISION);
        out.push(HASHER_ID.len() as u8);
        out.extend_from_slice(HASHER_ID.as_bytes());
        out.extend_from_slice(&Sha256::digest(&payload));
        out.extend_from_slice(&payload);
        out
    }

    /// Reads an envelope back, validating every header field and the checksum before decoding.
    pub fn from_envelope(blob: &[u8]) -> Result<Sketch, SketchError> {
        if blob.len() < 7 || &blob[..4] != MAGIC {
            return Err(SketchError::NotAnEnvelope);
        }
        let (format, precision, hasher_len) = (blob[4], blob[5], usize::from(blob[6]));
        let rest = &blob[7..];
        if rest.len() < hasher_len + 32 {
            return Err(SketchError::NotAnEnvelope);
        }
        let hasher = String::from_utf8_lossy(&rest[..hasher_len]).into_owned();
        if format != FORMAT || precision != PRECISION || hasher != HASHER_ID {
            return Err(SketchError::Foreign {
                format,
                precision,
                hasher,
            });
        }
        let (sum, payload) = rest[hasher_len..].split_at(32);
        if Sha256::digest(payload).as_slice() != sum {
            return Err(SketchError::Checksum);
        }
        let inner: HyperLogLogPlus<[u8; 32], Mix64> =
            postcard::from_bytes(payload).map_err(|_| SketchError::Payload)?;
        // A payload with a valid checksum was written by personify; still, never let a bad one panic.
        // The blob's own sizes and precision are not trusted (another precision indexes past the
        // registers on the next insert): its content is merged into a sketch made here, which
        // refuses another precision, and only that one is kept.
        let rebuilt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut fresh = Sketch::new();
            fresh.0.merge(&inner).ok()?;
            fresh.count().is_finite().then_some(fresh)
        }));
        rebuilt.ok().flatten().ok_or(SketchError::Payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_reject_corruption() {
        let mut s = Sketch::new();
        for i in 0u32..5000 {
            s.insert(&Sha256::digest(i.to_be_bytes()).into());
        }
        let blob = s.to_envelope();
        let mut back = Sketch::from_envelope(&blob).unwrap();
        assert_eq!(back.count(), s.count());
        let mut flipped = blob.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x40;
        assert_eq!(Sketch::from_envelope(&flipped).unwrap_err(), SketchError::Checksum);
        let mut foreign = blob.clone();
        foreign[5] = 12;
        assert!(matches!(
            Sketch::from_envelope(&foreign),
            Err(SketchError::Foreign { precision: 12, .. })
        ));
        assert_eq!(Sketch::from_envelope(b"nope").unwrap_err(), SketchError::NotAnEnvelope);
        assert_eq!(
            Sketch::from_envelope(&blob[..40]).unwrap_err(),
            SketchError::NotAnEnvelope
        );
        assert_eq!(
            Sketch::from_envelope(&blob[..blob.len() - 5]).unwrap_err(),
            SketchError::Checksum
        );
    }
}
