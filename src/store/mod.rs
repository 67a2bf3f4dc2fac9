//! Storage behind role traits (`roles.rs`), which `Store` gathers. Callers never see SQL: the SQLite
//! file (embedded default) and PostgreSQL (several nodes) implement them with the same SQL (`sql.rs`,
//! `consent_sql.rs`) and row mapping (`rows.rs`); each backend's file holds only what differs
//! (opening, locks, NOTIFY).

mod consent_sql;
pub mod experiments;
pub mod legacy;
pub mod postgres;
pub mod replay;
mod roles;
mod rows;
mod sql;
pub mod sqlite;

use std::sync::Arc;

use crate::domain::consent::Purposes;
use crate::domain::counts::Kind;
use crate::domain::ledger::entry::Entry;
use crate::domain::ledger::merkle::Hash;
pub use replay::Replayed;
pub use roles::{AuditRecords, ConsentLog, CountStore, ExperimentData, Health, RuleSets, Secrets};

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
    /// `store.ca_file` cannot be read or holds no PEM certificate.
    #[error("store.ca_file {}: {message}", path.display())]
    CaFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// `store.ca_file` is set for a store that is not reached over the network.
    #[error("store.ca_file applies to postgres:// URLs only")]
    CaFileWithoutTls,
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

/// Stored subjects from `from` (inclusive) to `to` (exclusive; `None`: no end), in the database's own
/// order of text: consecutive ranges cover every row once, whatever a row holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRange {
    /// The first subject in the range (`""` for the first range).
    pub from: String,
    /// The first subject after it, if any.
    pub to: Option<String>,
}

impl SubjectRange {
    /// `WHERE` clause over `column` for this range, with `$1` (and `$2`) for the bounds.
    fn clause(&self, column: &str) -> String {
        match self.to {
            Some(_) => format!("{column} >= $1 AND {column} < $2"),
            None => format!("{column} >= $1"),
        }
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

/// Changes that set a record (an erasure is written by [`ConsentLog::erase_consent`]).
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
/// [`ConsentLog::consent_replay`] and [`ConsentLog::consent_markers`]).
pub type ConsentWatcher = Arc<dyn Fn() + Send + Sync>;

/// Everything personify keeps: every role at once, what `store::open` returns and the server
/// shares as `Arc<dyn Store>`. It declares nothing of its own; any type with every role is one.
pub trait Store:
    Secrets + ConsentLog + CountStore + ExperimentData + AuditRecords + RuleSets + Health + Send + Sync
{
}

impl<T: Secrets + ConsentLog + CountStore + ExperimentData + AuditRecords + RuleSets + Health + Send + Sync> Store
    for T
{
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
    open_with(url, None).await
}

/// Like [`open`], with `store.ca_file`: PostgreSQL is then reached over TLS only, its certificate
/// checked against that CA and the URL's host name.
pub async fn open_with(url: &str, ca_file: Option<&std::path::Path>) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        if ca_file.is_some() {
            return Err(StoreError::CaFileWithoutTls);
        }
        return Ok(Arc::new(sqlite::SqliteStore::open(url).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::PgStore::open_with(url, ca_file).await?));
    }
    Err(StoreError::UnsupportedUrl(url.chars().take(32).collect()))
}
