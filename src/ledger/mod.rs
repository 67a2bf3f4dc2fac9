//! The consent ledger as a transparency log: an RFC 9162 Merkle tree over consent entries, signed
//! checkpoints in the C2SP formats, and the proofs anyone can check without trusting personify.
//! Why it is built this way: `docs/decisions/002-consent-ledger.md`.

#[cfg(feature = "server")]
pub mod audit;
pub mod checkpoint;
pub mod fetched;
pub mod frontier;
#[cfg(feature = "server")]
pub mod group_commit;
pub mod key;
pub mod leaf;
pub mod merkle;
#[cfg(feature = "server")]
pub mod node;
pub mod offline;

pub use checkpoint::{Checkpoint, CheckpointError, LogKey, NoteVerifier};
pub use merkle::{Hash, MemoryTree, Subtrees};
