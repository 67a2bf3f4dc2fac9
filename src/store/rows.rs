//! Rows as both backends return them, mapped once with `sqlx::FromRow` (the derive is generic over
//! the database, so SQLite and PostgreSQL share every mapping), and what the stores share besides
//! SQL: the clock and the error conversion.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{StoreError, StoredCheckpoint, StoredRecord};
use crate::domain::consent::Purposes;
use crate::domain::ledger::entry::{Action, Entry};
use crate::domain::ledger::merkle::Hash;

/// Unix milliseconds now, as every `recorded_at`, `created_at` and `issued_at` column holds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
                StoreError::Undecodable(Arc::new(e))
            }
            other => StoreError::Unavailable(Arc::new(other)),
        }
    }
}

/// A secret or salt column: exactly 32 bytes.
pub fn bytes32(v: Vec<u8>) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt("a secret or salt is not 32 bytes".into()))
}

fn hash(v: Vec<u8>) -> Result<Hash, StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt("a consent log hash is not 32 bytes".into()))
}

/// Columns of `consent_leaves l` that make an [`EntryRow`].
pub const ENTRY_COLUMNS: &str = "l.idx, l.receipt_id, l.recorded_at, l.time, l.action, l.personalize, l.measure, \
     l.advertise, l.source, l.policy_version, l.commitment, l.leaf_hash";

/// One leaf as stored.
#[derive(sqlx::FromRow)]
pub struct EntryRow {
    idx: i64,
    receipt_id: String,
    recorded_at: i64,
    time: String,
    action: String,
    personalize: bool,
    measure: bool,
    advertise: bool,
    source: String,
    policy_version: String,
    commitment: Vec<u8>,
    leaf_hash: Vec<u8>,
}

impl TryFrom<EntryRow> for Entry {
    type Error = StoreError;

    fn try_from(r: EntryRow) -> Result<Entry, StoreError> {
        Ok(Entry {
            index: u64::try_from(r.idx).map_err(|_| StoreError::Corrupt("negative leaf index".into()))?,
            receipt_id: r.receipt_id,
            recorded_at: r.recorded_at,
            time: r.time,
            action: Action::parse(&r.action).ok_or_else(|| StoreError::Corrupt("unknown consent action".into()))?,
            purposes: Purposes {
                personalize: r.personalize,
                measure: r.measure,
                advertise: r.advertise,
            },
            source: r.source,
            policy_version: r.policy_version,
            commitment: hash(r.commitment)?,
            leaf_hash: hash(r.leaf_hash)?,
        })
    }
}

/// A leaf with who it is about (both `NULL` once erased), as the audit reads the log.
#[derive(sqlx::FromRow)]
pub struct LogEntryRow {
    #[sqlx(flatten)]
    pub entry: EntryRow,
    pub subject: Option<String>,
    pub nonce: Option<Vec<u8>>,
}

/// Columns of `consent_records` that make a [`RecordRow`].
pub const RECORD_COLUMNS: &str = "subject, personalize, measure, advertise, opted_out, recorded_at, pos, erased";

/// A visitor's current record (or a replayed entry selected under the same names).
#[derive(sqlx::FromRow)]
pub struct RecordRow {
    subject: String,
    personalize: bool,
    measure: bool,
    advertise: bool,
    opted_out: bool,
    recorded_at: i64,
    pos: i64,
    erased: bool,
}

impl From<RecordRow> for StoredRecord {
    fn from(r: RecordRow) -> StoredRecord {
        StoredRecord {
            subject: r.subject,
            purposes: Purposes {
                personalize: r.personalize,
                measure: r.measure,
                advertise: r.advertise,
            },
            opted_out: r.opted_out,
            recorded_at: r.recorded_at,
            pos: r.pos,
            erased: r.erased,
        }
    }
}

/// A signed checkpoint as stored.
#[derive(sqlx::FromRow)]
pub struct CheckpointRow {
    size: i64,
    note: String,
    issued_at: i64,
}

impl From<CheckpointRow> for StoredCheckpoint {
    fn from(r: CheckpointRow) -> StoredCheckpoint {
        StoredCheckpoint {
            size: r.size as u64,
            note: r.note,
            issued_at: r.issued_at,
        }
    }
}

/// One row of the old hash-chain `consent_log` table.
#[derive(sqlx::FromRow)]
pub struct OldLogRow {
    receipt_id: String,
    recorded_at: i64,
    subject: String,
    action: String,
    personalize: bool,
    measure: bool,
    advertise: bool,
    source: String,
    policy_version: String,
}

impl From<OldLogRow> for super::legacy::LegacyRow {
    fn from(r: OldLogRow) -> Self {
        super::legacy::LegacyRow {
            receipt_id: r.receipt_id,
            recorded_at: r.recorded_at,
            subject: r.subject,
            action: r.action,
            purposes: Purposes {
                personalize: r.personalize,
                measure: r.measure,
                advertise: r.advertise,
            },
            source: r.source,
            policy_version: r.policy_version,
        }
    }
}
