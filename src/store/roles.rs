//! The store's roles: one trait per kind of data, each used by its own part of the engine and
//! HTTP layer. [`Store`](super::Store) is all of them; a function that needs one takes just that.

use async_trait::async_trait;

use super::experiments::{PeriodRow, ReleaseRow, UnitCounts, UnitRow};
use super::{
    AuditEntry, ConsentWatcher, CounterRow, Erased, LogRow, Replayed, Signer, SketchRow, StoreError, StoredCheckpoint,
    StoredRecord, StoredRuleSet, SubjectRange,
};
use crate::domain::counts::Kind;
use crate::domain::ledger::entry::{Change, Entry};
use crate::domain::ledger::fetched::{Fetched, Key};
use crate::domain::privacy::ConsentSubject;

/// Secrets and daily and network salts: used by startup, key rotation, the ledger node, `Counts` and salt views.
#[async_trait]
pub trait Secrets: Send + Sync {
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
}

/// The consent ledger, records and checkpoints: used by the ledger node, `verify`, consent sync, consent endpoints.
#[async_trait]
pub trait ConsentLog: Send + Sync {
    /// Appends changes to the log as one transaction: each becomes a leaf at the next index, the
    /// complete subtrees it closes are stored, and each visitor's current record is updated. One
    /// durable commit for the batch (group commit, in the engine's ledger node).
    async fn append_consent(&self, changes: Vec<Change>) -> Result<Vec<Entry>, StoreError>;

    /// Erases a visitor's consent data: deletes the nonce and keyed hash of every entry of theirs,
    /// appends `erasure`, and turns their record into a suppression marker (opt-out) or a tombstone.
    async fn erase_consent(&self, subject: &ConsentSubject, erasure: Change) -> Result<Erased, StoreError>;

    /// The current records whose subject is in `range`, erasure markers included, passed to `each`
    /// as they stream (what `verify` compares with the log, a range at a time; enforcement never
    /// reads this table whole).
    async fn consent_records(
        &self,
        range: &SubjectRange,
        each: &mut (dyn FnMut(StoredRecord) + Send),
    ) -> Result<(), StoreError>;

    /// The visitor links (subject, leaf index) whose subject is in `range`, passed to `each` as
    /// they stream, in no particular order (`verify` finds each visitor's last entry from them).
    async fn consent_links(
        &self,
        range: &SubjectRange,
        each: &mut (dyn FnMut(String, i64) + Send),
    ) -> Result<(), StoreError>;

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

    /// Starts delivering consent changes made by other nodes. A store owned by one process (SQLite)
    /// has none, so the default does nothing.
    fn watch_consent(&self, _on_change: ConsentWatcher) {}
}

/// Sketches and counters per (kind, key, day, node): used by the engine's `Counts`.
#[async_trait]
pub trait CountStore: Send + Sync {
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
}

/// Experiment units, analysis periods and released cells: used by the engine's experiments service
/// and the reports (`docs/reports.md`).
#[async_trait]
pub trait ExperimentData: Send + Sync {
    /// Adds units; a unit already counted in its (experiment, period, arm, goal) is ignored. Written
    /// in short transactions, not one: on error some may be stored, and writing them again is harmless.
    async fn put_units(&self, rows: Vec<UnitRow>) -> Result<(), StoreError>;

    /// Exact exposures per arm and converters (among the exposed) per arm and goal of a period.
    async fn unit_counts(&self, experiment: &str, period: i64) -> Result<UnitCounts, StoreError>;

    /// Deletes every row of the given (experiment, unit) pairs (an erasure); returns how many.
    async fn erase_units(&self, units: &[(String, u64)]) -> Result<u64, StoreError>;

    /// Experiments that ever had a period (whose units an erasure must look for).
    async fn unit_experiments(&self) -> Result<Vec<String>, StoreError>;

    /// Deletes units first counted before `day`; returns how many.
    async fn purge_units_before(&self, day: i64) -> Result<u64, StoreError>;

    /// The periods of one experiment, or of all, in order.
    async fn periods(&self, experiment: Option<&str>) -> Result<Vec<PeriodRow>, StoreError>;

    /// Records a period's start; `false` when another node recorded that number first.
    async fn start_period(&self, row: &PeriodRow) -> Result<bool, StoreError>;

    /// Released cells whose id starts with `prefix`.
    async fn releases(&self, prefix: &str) -> Result<Vec<ReleaseRow>, StoreError>;

    /// Stores a release unless the cell already has this release number or a later one; returns
    /// the stored row (the winner's, when another node released first).
    async fn put_release(&self, row: &ReleaseRow) -> Result<ReleaseRow, StoreError>;

    /// Stores first releases of cells that have none (closed days and weeks, released once); a
    /// cell another node released first keeps that node's row.
    async fn put_first_releases(&self, rows: Vec<ReleaseRow>) -> Result<(), StoreError>;

    /// Deletes the released cells whose id starts with `prefix` and that were released before
    /// `released_before_ms`; returns how many.
    async fn purge_releases(&self, prefix: &str, released_before_ms: i64) -> Result<u64, StoreError>;
}

/// The admin audit trail: used by `engine::audit` and the admin audit endpoint.
#[async_trait]
pub trait AuditRecords: Send + Sync {
    /// Appends an admin action to the audit trail, durably, before returning its sequence number.
    async fn append_audit(&self, actor: &str, action: &str) -> Result<i64, StoreError>;

    /// Audit entries with `seq > after`, at most `limit`, in order.
    async fn audit_log(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;
}

/// The last rule set that loaded: used by the rules reloader (`engine::reload`).
#[async_trait]
pub trait RuleSets: Send + Sync {
    /// Keeps `set` as the last rule set that loaded, replacing the previous one.
    async fn put_last_good_rules(&self, set: &StoredRuleSet) -> Result<(), StoreError>;

    /// The last rule set that loaded on any node, if one ever did.
    async fn last_good_rules(&self) -> Result<Option<StoredRuleSet>, StoreError>;
}

/// Readiness: used by the health endpoint.
#[async_trait]
pub trait Health: Send + Sync {
    /// Cheap round trip for readiness.
    async fn ping(&self) -> Result<(), StoreError>;
}
