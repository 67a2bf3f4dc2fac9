//! Storage behind one trait. Callers never see SQL: the SQLite file (embedded default) and
//! PostgreSQL (several nodes) implement it with the same SQL (`sql.rs`, `consent_sql.rs`) and row
//! mapping (`rows.rs`); each backend's file holds only what differs (opening, locks, NOTIFY).

mod consent_sql;
pub mod legacy;
pub mod postgres;
pub mod replay;
mod rows;
mod sql;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::consent::Purposes;
use crate::domain::counts::Kind;
use crate::domain::ledger::entry::{Change, Entry};
use crate::domain::ledger::fetched::{Fetched, Key};
use crate::domain::ledger::merkle::Hash;
use crate::domain::privacy::ConsentSubject;
pub use replay::Replayed;

/// A store operation that failed. Causes are kept as sources (in an `Arc`: the group-commit writer
/// hands one failure to every waiter of a batch); the message repeats the cause because every log
/// line and startup error prints only the message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the operation.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Arc<sqlx::Error>),
    /// The consent log writer has stopped (the server is shutting down).
    #[error("store unavailable: the consent log writer has stopped")]
    WriterStopped,
    /// The directory of the SQLite file cannot be created.
    #[error("store unavailable: cannot create {}: {source}", dir.display())]
    CreateDir {
        /// The directory.
        dir: std::path::PathBuf,
        /// Why.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A stored value does not decode as the column personify wrote.
    #[error("store data is corrupt: {0}")]
    Undecodable(#[source] Arc<sqlx::Error>),
    /// Stored data does not have the shape personify wrote.
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
    /// `store.url` names no supported backend.
    #[error("store.url {0:?} is not supported: use sqlite://PATH (default) or postgres://…")]
    UnsupportedUrl(String),
    /// Migrations could not be applied.
    #[error("store migrations failed: {0}")]
    Migration(#[source] Arc<sqlx::migrate::MigrateError>),
}

impl From<crate::domain::ledger::leaf::LeafError> for StoreError {
    fn from(e: crate::domain::ledger::leaf::LeafError) -> Self {
        StoreError::Corrupt(format!("a consent log entry cannot be encoded: {e}"))
    }
}

impl From<crate::domain::ledger::frontier::FrontierError> for StoreError {
    fn from(e: crate::domain::ledger::frontier::FrontierError) -> Self {
        StoreError::Corrupt(format!("the consent log's tree is incomplete: {e}"))
    }
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
    /// Index of the log entry that last changed the record (incremental resync reads by it).
    pub pos: i64,
    /// The visitor asked for erasure: an opt-out stays as a suppression marker, anything else is a
    /// tombstone that tells other nodes to forget the record.
    pub erased: bool,
}

/// A log entry as audited: the entry and, unless erased, who it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// The entry.
    pub entry: Entry,
    /// Hex keyed visitor hash and the entry's nonce; `None` once erased.
    pub subject: Option<(String, Vec<u8>)>,
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    /// Entries whose nonce and keyed hash were deleted.
    pub entries: u64,
    /// The visitor had opted out: a suppression marker keeps honouring it.
    pub suppressed: bool,
    /// The erasure's own entry.
    pub entry: Entry,
}

/// A signed checkpoint as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Tree size it covers.
    pub size: u64,
    /// The signed note.
    pub note: String,
    /// Unix milliseconds.
    pub issued_at: i64,
}

/// Signs a tree head: `(size, root)` to a signed note.
pub type Signer<'a> = &'a (dyn Fn(u64, Hash) -> String + Send + Sync);

/// Keeps rows of one subject only once, the last one winning (a batch may hold two choices of
/// the same visitor; an upsert must see only the newer).
pub fn last_per_subject(entries: &[(Entry, String, [u8; 16])]) -> Vec<&(Entry, String, [u8; 16])> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<_> = entries
        .iter()
        .rev()
        .filter(|(_, s, _)| seen.insert(s.as_str()))
        .collect();
    out.reverse();
    out
}

/// Changes that set a record (an erasure is written by [`Store::erase_consent`]).
pub fn sets_record(e: &Entry) -> bool {
    e.action != crate::domain::ledger::entry::Action::Erasure
}

/// One sketch row: a versioned HLL envelope for (kind, key, day) written by one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SketchRow {
    /// What it measures.
    pub kind: Kind,
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
    pub kind: Kind,
    /// Segment id, …
    pub key: String,
    /// UTC day.
    pub day: i64,
    /// Writing node.
    pub node: String,
    /// Amount to add.
    pub value: i64,
}

/// Called when another node has appended to the consent log (read the new entries with
/// [`Store::consent_replay`] and [`Store::consent_markers`]).
pub type ConsentWatcher = Arc<dyn Fn() + Send + Sync>;

/// Everything personify keeps, behind one interface.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The secret called `name`, creating it from `candidate` if none exists (race-free: the first
    /// writer wins and every caller gets the winner's value).
    async fn secret(&self, name: &str, candidate: [u8; 32]) -> Result<[u8; 32], StoreError>;

    /// Names of the stored secrets starting with `prefix`.
    async fn secret_names(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

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

    /// Appends changes to the log as one transaction: each becomes a leaf at the next index, the
    /// complete subtrees it closes are stored, and each visitor's current record is updated. One
    /// durable commit for the batch (group commit, in the engine's ledger node).
    async fn append_consent(&self, changes: Vec<Change>) -> Result<Vec<Entry>, StoreError>;

    /// Erases a visitor's consent data: deletes the nonce and keyed hash of every entry of theirs,
    /// appends `erasure`, and turns their record into a suppression marker (opt-out) or a tombstone.
    async fn erase_consent(&self, subject: &ConsentSubject, erasure: Change) -> Result<Erased, StoreError>;

    /// Every current record, erasure markers included, passed to `each` as it streams (what
    /// `verify` compares with the log; enforcement never reads this table whole).
    async fn consent_records(&self, each: &mut (dyn FnMut(StoredRecord) + Send)) -> Result<(), StoreError>;

    /// The erasure markers left by erasures at log indexes in `(after, before)`, passed to `each`:
    /// only those a real erasure could have left, whose index is an erasure entry and whose visitor
    /// no entry of the log still names (an erasure unlinks them all). Any other marker is an edit of
    /// the table: enforcement ignores it and `verify` reports it (`docs/decisions/002-consent-ledger.md`).
    async fn consent_markers(
        &self,
        after: i64,
        before: i64,
        each: &mut (dyn FnMut(StoredRecord) + Send),
    ) -> Result<(), StoreError>;

    /// Replays the log entries at indexes `[from, to)` that are still linked to their visitor
    /// (erasures excluded), in log order, as the records they set. What `/v1/decide` enforces is
    /// rebuilt from these at start, a chunk at a time (`consent::sync::load`).
    async fn consent_replay(&self, from: u64, to: u64) -> Result<Vec<Replayed>, StoreError>;

    /// Deletes erasure tombstones (not suppression markers) recorded before `before_ms`.
    async fn purge_consent_tombstones(&self, before_ms: i64) -> Result<u64, StoreError>;

    /// Log entries from index `from`, at most `limit`, in order, with their subjects.
    async fn consent_log(&self, from: u64, limit: i64) -> Result<Vec<LogRow>, StoreError>;

    /// Log entries of one subject, in order.
    async fn consent_log_for(&self, subject: &ConsentSubject) -> Result<Vec<Entry>, StoreError>;

    /// The entry a receipt id names.
    async fn consent_receipt(&self, receipt_id: &str) -> Result<Option<Entry>, StoreError>;

    /// Hashes of the named complete subtrees (missing ones are simply absent).
    async fn consent_subtrees(&self, keys: &[Key]) -> Result<Fetched, StoreError>;

    /// Number of log entries.
    async fn consent_size(&self) -> Result<u64, StoreError>;

    /// Signs and keeps a checkpoint of the current tree if it has grown since the last one and no
    /// other node is issuing one right now; returns it.
    async fn issue_checkpoint(&self, sign: Signer<'_>) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// The newest checkpoint, or the one of exactly `size`.
    async fn checkpoint(&self, size: Option<u64>) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Converts a log in the old hash-chain format into leaves (once; returns how many). Sources
    /// and policy versions outside the configured sets become `legacy`.
    async fn migrate_legacy_log(&self, sources: &[String], policy_versions: &[String]) -> Result<u64, StoreError>;

    /// Counts for the compliance view: (log entries, current records, opt-outs).
    async fn consent_counts(&self) -> Result<(i64, i64, i64), StoreError>;

    /// This node's stored sketch for (kind, key, day), if any.
    async fn sketch(&self, kind: Kind, key: &str, day: i64, node: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes sketches (replacing this node's rows) and adds counter deltas, in one transaction.
    async fn put_counts(&self, sketches: Vec<SketchRow>, counters: Vec<CounterRow>) -> Result<(), StoreError>;

    /// Every node's sketches of `kind` (optionally one key) for days `from..=to`.
    async fn sketches(&self, kind: Kind, key: Option<&str>, from: i64, to: i64) -> Result<Vec<SketchRow>, StoreError>;

    /// Counter totals of `kind` per key over days `from..=to`, summed across nodes.
    async fn counter_sums(
        &self,
        kind: Kind,
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

    /// Appends an admin action to the audit trail, durably, before returning its sequence number.
    async fn append_audit(&self, actor: &str, action: &str) -> Result<i64, StoreError>;

    /// Audit entries with `seq > after`, at most `limit`, in order.
    async fn audit_log(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;

    // Rule sets (issue 16). Kept at the end of the trait so other additions merge apart.

    /// Keeps `set` as the last rule set that loaded, replacing the previous one.
    async fn put_last_good_rules(&self, set: &StoredRuleSet) -> Result<(), StoreError>;

    /// The last rule set that loaded on any node, if one ever did.
    async fn last_good_rules(&self) -> Result<Option<StoredRuleSet>, StoreError>;
}

/// One admin action as recorded: never a request value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    /// Position in the trail.
    pub seq: i64,
    /// Unix milliseconds.
    pub recorded_at: i64,
    /// The configured name of the token that acted (`admin` for the master token).
    pub actor: String,
    /// What was done (a closed set, see `audit::Action`).
    pub action: String,
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
