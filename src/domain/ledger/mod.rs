//! The consent ledger as a transparency log: an RFC 9162 Merkle tree over consent entries, signed
//! checkpoints in the C2SP formats, and the proofs anyone can check without trusting personify.
//! Why it is built this way: `docs/decisions/002-consent-ledger.md`.

pub mod checkpoint;
pub mod entry;
pub mod fetched;
pub mod frontier;
pub mod leaf;
pub mod merkle;
pub mod offline;

pub use checkpoint::{Checkpoint, CheckpointError, LogKey, NoteVerifier};
pub use merkle::{Hash, MemoryTree, Subtrees};
