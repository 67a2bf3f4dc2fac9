//! The consent log node: the group-commit writer, checkpoints, the log key file and verification
//! of the stored log against its checkpoints (`docs/decisions/002-consent-ledger.md`).

pub mod group_commit;
pub mod key;
pub mod node;
pub mod verify;
