//! Converting a consent log written in the old hash-chain format (before the Merkle ledger) into
//! changes to append. Free-text values from before the closed sets become `legacy`, so nothing a
//! client once typed is ever carried into a leaf.

use rand::RngCore;

use crate::domain::consent::Purposes;
use crate::domain::ledger::entry::{Action, Change, ReceiptId, LEGACY};
use crate::domain::privacy::ConsentSubject;

use super::StoreError;

/// One row of the old `consent_log` table.
#[derive(Debug, Clone)]
pub struct LegacyRow {
    /// Receipt id.
    pub receipt_id: String,
    /// Unix milliseconds.
    pub recorded_at: i64,
    /// Hex keyed visitor hash.
    pub subject: String,
    /// Stored action text.
    pub action: String,
    /// Purposes.
    pub purposes: Purposes,
    /// Stored source.
    pub source: String,
    /// Stored policy version.
    pub policy_version: String,
}

/// The change a legacy row becomes.
pub fn change(row: LegacyRow, sources: &[String], policy_versions: &[String]) -> Result<Change, StoreError> {
    let subject = ConsentSubject::from_hex(&row.subject)
        .ok_or_else(|| StoreError::Corrupt("an old consent log subject is not 64 hex characters".into()))?;
    let action = match Action::parse(&row.action) {
        Some(a @ (Action::Consent | Action::OptOut)) => a,
        _ => {
            return Err(StoreError::Corrupt(
                "an old consent log entry has an unknown action".into(),
            ))
        }
    };
    let known = |v: &str, set: &[String]| set.iter().any(|s| s == v);
    let source = if known(&row.source, sources) {
        row.source
    } else {
        LEGACY.to_string()
    };
    let policy_version = if row.policy_version == "-" || known(&row.policy_version, policy_versions) {
        row.policy_version
    } else {
        LEGACY.to_string()
    };
    // Receipt ids were random hex; anything else is not carried either.
    let receipt_id = if row.receipt_id.len() <= 64 && row.receipt_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        ReceiptId::Issued(row.receipt_id)
    } else {
        ReceiptId::fresh()
    };
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    Ok(Change {
        receipt_id,
        recorded_at: row.recorded_at,
        subject,
        nonce,
        action,
        purposes: row.purposes,
        source,
        policy_version,
    })
}
