//! The sketch envelope decoder: stored bytes in, a sketch or an error out, never a panic; and a
//! sketch that decodes can be counted, merged, extended and written back like any other.
//!
//! The first byte picks the mode. Mode 0: the rest is a stored blob as is (header checks). Mode 1:
//! the rest is a payload, wrapped in a valid header and checksum, so the fuzzer reaches the payload
//! decoder past the checksum. Mode 2: a real sketch of `n` keys whose payload is then edited by
//! (offset, xor) pairs and re-checksummed: corruption a checksum cannot catch.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use personify::domain::counts::sketch::{Sketch, HASHER_ID};

/// The envelope header (magic, format, precision, hasher id), without the checksum.
fn header_len() -> usize {
    7 + HASHER_ID.len()
}

fn wrap(payload: &[u8]) -> Vec<u8> {
    let template = Sketch::new().to_envelope();
    let mut blob = template[..header_len()].to_vec();
    blob.extend_from_slice(&sha256(payload));
    blob.extend_from_slice(payload);
    blob
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).into()
}

fn key(i: u32) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..4].copy_from_slice(&i.to_le_bytes());
    k[4..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9).to_le_bytes());
    k
}

/// Decodes and uses a blob. `intact`: the count of the real sketch this is the envelope of, which
/// decoding and a round trip must keep exactly; a corrupted payload under a valid checksum only has
/// to stay harmless.
fn exercise(blob: &[u8], intact: Option<f64>) {
    let Ok(mut s) = Sketch::from_envelope(blob) else {
        assert!(intact.is_none(), "a real sketch decodes");
        return;
    };
    let n = s.count();
    if let Some(count) = intact {
        assert_eq!(n.to_bits(), count.to_bits(), "decoding keeps the count");
    }
    assert!(n.is_finite() && n >= 0.0, "a decoded sketch counts");
    let again = s.to_envelope();
    let mut back = Sketch::from_envelope(&again).expect("a re-encoded sketch decodes");
    let m = back.count();
    assert!(m.is_finite() && m >= 0.0, "a re-decoded sketch counts");
    if intact.is_some() {
        assert_eq!(m.to_bits(), n.to_bits(), "a round trip keeps the count");
    }
    // What the flusher does with a stored sketch: merge a delta into it, and it into a total.
    let mut delta = Sketch::new();
    delta.insert(&key(1));
    s.merge(&delta);
    let mut total = Sketch::new();
    total.merge(&s);
    s.insert(&key(2));
    let _ = s.count();
    let _ = total.count();
    let _ = s.to_envelope();
}

fuzz_target!(|data: &[u8]| common::run(|| one(data)));

fn one(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => exercise(rest, None),
        1 => exercise(&wrap(rest), None),
        _ => {
            let Some((n, edits)) = rest.split_first_chunk::<2>() else {
                return;
            };
            let mut s = Sketch::new();
            // Up to 8,191 keys: enough to go from the sparse to the dense representation.
            for i in 0..u32::from(u16::from_le_bytes(*n) & 0x1FFF) {
                s.insert(&key(i));
            }
            let blob = s.to_envelope();
            let mut payload = blob[header_len() + 32..].to_vec();
            if payload.is_empty() {
                return;
            }
            for e in edits.chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([e[0], e[1]])) % payload.len();
                payload[at] ^= e[2];
            }
            exercise(&wrap(&payload), (edits.len() < 3).then(|| s.count()));
        }
    }
}
