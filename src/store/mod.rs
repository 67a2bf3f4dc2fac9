//! Storage behind one trait. Callers never see SQL: the SQLite file (embedded default) implements it
//! here, and a PostgreSQL implementation for several nodes fits the same trait.

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

use crate::consent::log::{Change, Entry};
use crate::consent::Purposes;

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the operation.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data does not have the shape personify wrote.
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
    /// `store.url` names no supported backend.
    #[error("store.url {0:?} is not supported: use sqlite://PATH (default) or postgres://…")]
    UnsupportedUrl(String),
    /// Migrations could not be applied.
    #[error("store migrations failed: {0}")]
    Migration(String),
}

/// A visitor's current explicit choice as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Hex keyed hash of the visitor id.
    pub subject: String,
    /// Purposes granted.
    pub purposes: Purposes,
    /// From an opt-out.
    pub opted_out: bool,
    /// Unix milliseconds.
    pub recorded_at: i64,
}

/// One sketch row: a versioned HLL envelope for (kind, key, day) written by one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SketchRow {
    /// What it measures (`segment`, `exposure`, …).
    pub kind: String,
    /// Segment id, `experiment/arm`, …
    pub key: String,
    /// UTC day.
    pub day: i64,
    /// Writing node.
    pub node: String,
    /// The envelope.
    pub blob: Vec<u8>,
}

/// One counter delta for (kind, key, day) from one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRow {
    /// What it counts.
    pub kind: String,
    /// Segment id, …
    pub key: String,
    /// UTC day.
    pub day: i64,
    /// Writing node.
    pub node: String,
    /// Amount to add.
    pub value: i64,
}

/// Called with every consent change another node makes.
pub type ConsentWatcher = Arc<dyn Fn(StoredRecord) + Send + Sync>;

/// Everything personify keeps, behind one interface.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The secret called `name`, creating it from `candidate` if none exists (race-free: the first
    /// writer wins and every caller gets the winner's value).
    async fn secret(&self, name: &str, candidate: [u8; 32]) -> Result<[u8; 32], StoreError>;

    /// The salt of UTC day `day`, created from `candidate` if none exists (first writer wins).
    async fn salt(&self, day: i64, candidate: [u8; 32]) -> Result<[u8; 32], StoreError>;

    /// Deletes salts of days before `day`; returns how many.
    async fn purge_salts_before(&self, day: i64) -> Result<u64, StoreError>;

    /// UTC days that still have a salt.
    async fn salt_days(&self) -> Result<Vec<i64>, StoreError>;

    /// The network-key salt of ISO week `week`, created from `candidate` if none exists (first
    /// writer wins, so every node keys a network alike).
    async fn network_salt(&self, week: i64, candidate: [u8; 32]) -> Result<[u8; 32], StoreError>;

    /// Deletes network-key salts of weeks before `week`; returns how many.
    async fn purge_network_salts_before(&self, week: i64) -> Result<u64, StoreError>;

    /// Appends a change to the hash-chained log and updates the subject's current record, atomically
    /// and durably, before returning the entry.
    async fn append_consent(&self, change: Change) -> Result<Entry, StoreError>;

    /// Every current record (loaded into memory at start).
    async fn consent_records(&self) -> Result<Vec<StoredRecord>, StoreError>;

    /// Log entries with `seq > after`, at most `limit`, in order.
    async fn consent_log(&self, after: i64, limit: i64) -> Result<Vec<Entry>, StoreError>;

    /// Log entries of one subject, in order.
    async fn consent_log_for(&self, subject: &str) -> Result<Vec<Entry>, StoreError>;

    /// Counts for the compliance view: (log entries, current records, opt-outs).
    async fn consent_counts(&self) -> Result<(i64, i64, i64), StoreError>;

    /// This node's stored sketch for (kind, key, day), if any.
    async fn sketch(&self, kind: &str, key: &str, day: i64, node: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes sketches (replacing this node's rows) and adds counter deltas, in one transaction.
    async fn put_counts(&self, sketches: Vec<SketchRow>, counters: Vec<CounterRow>) -> Result<(), StoreError>;

    /// Every node's sketches of `kind` (optionally one key) for days `from..=to`.
    async fn sketches(&self, kind: &str, key: Option<&str>, from: i64, to: i64) -> Result<Vec<SketchRow>, StoreError>;

    /// Counter totals of `kind` per key over days `from..=to`, summed across nodes.
    async fn counter_sums(
        &self,
        kind: &str,
        from: i64,
        to: i64,
    ) -> Result<std::collections::HashMap<String, i64>, StoreError>;

    /// Deletes sketch and counter rows of days before `day`; returns how many.
    async fn purge_counts_before(&self, day: i64) -> Result<u64, StoreError>;

    /// Starts delivering consent changes made by other nodes. A store owned by one process (SQLite)
    /// has none, so the default does nothing.
    fn watch_consent(&self, _on_change: ConsentWatcher) {}

    /// Cheap round trip for readiness.
    async fn ping(&self) -> Result<(), StoreError>;

    // Rule sets (issue 16). Kept at the end of the trait so other additions merge apart.

    /// Keeps `set` as the last rule set that loaded, replacing the previous one.
    async fn put_last_good_rules(&self, set: &StoredRuleSet) -> Result<(), StoreError>;

    /// The last rule set that loaded on any node, if one ever did.
    async fn last_good_rules(&self) -> Result<Option<StoredRuleSet>, StoreError>;
}

/// A rule set as its files: what a node falls back to when its rules directory does not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRuleSet {
    /// Its version (`sha256:…`), as computed when it loaded.
    pub version: String,
    /// `(file name, file text)`, in load order.
    pub files: Vec<(String, String)>,
    /// Unix milliseconds.
    pub saved_at: i64,
}

impl StoredRuleSet {
    /// The files as stored: a JSON array of `[name, text]` pairs.
    pub fn files_json(&self) -> String {
        serde_json::to_string(&self.files).unwrap_or_else(|_| "[]".into())
    }

    /// Reads back what [`StoredRuleSet::files_json`] wrote.
    pub fn from_row(version: String, files: &str, saved_at: i64) -> Result<StoredRuleSet, StoreError> {
        let files = serde_json::from_str(files)
            .map_err(|e| StoreError::Corrupt(format!("last_good_rules.files is not a list of [name, text]: {e}")))?;
        Ok(StoredRuleSet {
            version,
            files,
            saved_at,
        })
    }
}

/// Opens the store named by `store.url`, creating and migrating it as needed.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(sqlite::SqliteStore::open(url).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::PgStore::open(url).await?));
    }
    Err(StoreError::UnsupportedUrl(url.chars().take(32).collect()))
}
