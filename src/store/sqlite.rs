//! The embedded default: one SQLite file in WAL mode with `synchronous = FULL`, so a write is on
//! disk before it is acknowledged.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::sqlite_consent as consent;
use super::{
    AuditEntry, CounterRow, Erased, LogRow, Signer, SketchRow, Store, StoreError, StoredCheckpoint, StoredRecord,
    StoredRuleSet,
};
use crate::consent::log::{Change, Entry};
use crate::ledger::fetched::{Fetched, Key};
use crate::ledger::frontier::Frontier;
use crate::privacy::ConsentSubject;

/// A SQLite-backed store.
pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection every hot write goes through (consent appends and erasures, checkpoints,
    /// sketch flushes). SQLite has one writer per file anyway; a connection of its own keeps that
    /// writer's page cache warm, where a write through a pooled connection would first discard its
    /// cache because another connection changed the file (docs/decisions/002-consent-ledger.md).
    writer: SqlitePool,
    /// The task checkpointing the WAL for the writer; stopped with the store.
    checkpointer: Option<tokio::task::JoinHandle<()>>,
    /// The consent tree's right edge as of the last append (one process owns the file; checked
    /// against the stored size before each use).
    frontier: std::sync::Mutex<Frontier>,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
                StoreError::Corrupt(e.to_string())
            }
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn bytes32(v: Vec<u8>) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt("a secret or salt is not 32 bytes".into()))
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// WAL frames (pages) beyond which a checkpoint also rewinds the WAL (about 16 MiB).
const WAL_REWIND_FRAMES: i64 = 4_096;

/// Checkpoints the WAL on a pooled connection, beside the writer. `PASSIVE` copies what it can
/// without waiting for, or blocking, the writer or readers; but under a steady stream of commits the
/// WAL is never entirely copied at the moment a commit starts, which is when SQLite rewinds it, so it
/// would grow without bound. Past [`WAL_REWIND_FRAMES`], a `RESTART` checkpoint on the writer's own
/// connection (so it takes its turn between two commits instead of starving behind them) copies the
/// few frames the passive one left and makes the next commit rewind the WAL: one short pause every
/// few seconds instead of a checkpoint inside every thousandth page's commit.
async fn checkpoints(pool: SqlitePool, writer: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let frames = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await
            .map(|(_, log, _)| log);
        let result = match frames {
            Ok(n) if n > WAL_REWIND_FRAMES => sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                .execute(&writer)
                .await
                .map(|_| ()),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(task) = self.checkpointer.take() {
            task.abort();
        }
    }
}

impl SqliteStore {
    /// Opens (creating the directory and file if needed) and migrates `sqlite://PATH`.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        let path = path.split('?').next().unwrap_or("");
        if path.is_empty() {
            return Err(StoreError::UnsupportedUrl(url.into()));
        }
        if path != ":memory:" {
            if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
            }
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::UnsupportedUrl(url.into()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // Deleted rows and dropped tables are zeroed, not left in free pages: an erased
            // visitor's nonces and the old log's free text must not stay recoverable in the file.
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        let writer = if path == ":memory:" {
            // Every connection to `:memory:` is a database of its own.
            pool.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                // The consent log's indexes grow with every visitor; 32 MiB keeps their inner pages
                // in memory (SQLite's default is 2 MiB).
                // Checkpoints (copying the WAL back into the database, two more fsyncs) would run
                // inside whichever commit crosses the WAL's threshold, stalling every caller of
                // that batch; `checkpoints` does them beside the writer instead.
                .connect_with(options.pragma("cache_size", "-32768").pragma("wal_autocheckpoint", "0"))
                .await?
        };
        let checkpointer = (path != ":memory:").then(|| tokio::spawn(checkpoints(pool.clone(), writer.clone())));
        Ok(SqliteStore {
            pool,
            writer,
            checkpointer,
            frontier: std::sync::Mutex::new(Frontier::new()),
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn secret(&self, name: &str, candidate: [u8; 32]) -> Result<[u8; 32], StoreError> {
        sqlx::query("INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(&candidate[..])
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        let v: Vec<u8> = sqlx::query_scalar("SELECT value FROM secrets WHERE name = ?")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        bytes32(v)
    }

    async fn secret_names(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM secrets ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(names.into_iter().filter(|n| n.starts_with(prefix)).collect())
    }

    async fn salt(&self, day: i64, candidate: [u8; 32]) -> Result<[u8; 32], StoreError> {
        sqlx::query("INSERT INTO daily_salts (day, salt, created_at) VALUES (?, ?, ?) ON CONFLICT (day) DO NOTHING")
            .bind(day)
            .bind(&candidate[..])
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        let v: Vec<u8> = sqlx::query_scalar("SELECT salt FROM daily_salts WHERE day = ?")
            .bind(day)
            .fetch_one(&self.pool)
            .await?;
        bytes32(v)
    }

    async fn purge_salts_before(&self, day: i64) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM daily_salts WHERE day < ?")
            .bind(day)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn salt_days(&self) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT day FROM daily_salts ORDER BY day")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn network_salt(&self, week: i64, candidate: [u8; 32]) -> Result<[u8; 32], StoreError> {
        sqlx::query(
            "INSERT INTO network_salts (week, salt, created_at) VALUES (?, ?, ?) ON CONFLICT (week) DO NOTHING",
        )
        .bind(week)
        .bind(&candidate[..])
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        let v: Vec<u8> = sqlx::query_scalar("SELECT salt FROM network_salts WHERE week = ?")
            .bind(week)
            .fetch_one(&self.pool)
            .await?;
        bytes32(v)
    }

    async fn purge_network_salts_before(&self, week: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM network_salts WHERE week < ?")
            .bind(week)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn append_consent(&self, changes: Vec<Change>) -> Result<Vec<Entry>, StoreError> {
        consent::append(&self.writer, &self.frontier, changes).await
    }

    async fn erase_consent(&self, subject: &ConsentSubject, erasure: Change) -> Result<Erased, StoreError> {
        consent::erase(&self.writer, &self.frontier, subject, erasure).await
    }

    async fn consent_records(
        &self,
        erased_only: bool,
        each: &mut (dyn FnMut(StoredRecord) + Send),
    ) -> Result<(), StoreError> {
        consent::records(&self.pool, erased_only, each).await
    }

    async fn consent_replay(&self, each: &mut (dyn FnMut(StoredRecord) + Send)) -> Result<(), StoreError> {
        consent::replay(&self.pool, each).await
    }

    async fn consent_records_since(&self, pos: i64, limit: i64) -> Result<Vec<StoredRecord>, StoreError> {
        consent::records_since(&self.pool, pos, limit).await
    }

    async fn purge_consent_tombstones(&self, before_ms: i64) -> Result<u64, StoreError> {
        consent::purge_tombstones(&self.pool, before_ms).await
    }

    async fn consent_log(&self, from: u64, limit: i64) -> Result<Vec<LogRow>, StoreError> {
        consent::log(&self.pool, from, limit).await
    }

    async fn consent_log_for(&self, subject: &str) -> Result<Vec<Entry>, StoreError> {
        consent::log_for(&self.pool, subject).await
    }

    async fn consent_receipt(&self, receipt_id: &str) -> Result<Option<Entry>, StoreError> {
        consent::receipt(&self.pool, receipt_id).await
    }

    async fn consent_subtrees(&self, keys: &[Key]) -> Result<Fetched, StoreError> {
        consent::subtrees(&mut *self.pool.acquire().await?, keys).await
    }

    async fn consent_size(&self) -> Result<u64, StoreError> {
        consent::log_size(&self.pool).await
    }

    async fn issue_checkpoint(&self, sign: Signer<'_>) -> Result<Option<StoredCheckpoint>, StoreError> {
        consent::issue_checkpoint(&self.writer, sign, now_ms()).await
    }

    async fn checkpoint(&self, size: Option<u64>) -> Result<Option<StoredCheckpoint>, StoreError> {
        consent::checkpoint(&self.pool, size).await
    }

    async fn migrate_legacy_log(&self, sources: &[String], policy_versions: &[String]) -> Result<u64, StoreError> {
        consent::migrate_legacy(&self.pool, &self.frontier, sources, policy_versions).await
    }

    async fn consent_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        let log: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_leaves")
            .fetch_one(&self.pool)
            .await?;
        let records: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_records WHERE erased = 0")
            .fetch_one(&self.pool)
            .await?;
        let opt_outs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_records WHERE opted_out = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok((log, records, opt_outs))
    }

    async fn sketch(&self, kind: &str, key: &str, day: i64, node: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT blob FROM sketches WHERE kind = ? AND key = ? AND day = ? AND node = ?")
                .bind(kind)
                .bind(key)
                .bind(day)
                .bind(node)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn put_counts(&self, sketches: Vec<SketchRow>, counters: Vec<CounterRow>) -> Result<(), StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        for r in &sketches {
            sqlx::query(
                "INSERT INTO sketches (kind, key, day, node, blob) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (kind, key, day, node) DO UPDATE SET blob = excluded.blob",
            )
            .bind(&r.kind)
            .bind(&r.key)
            .bind(r.day)
            .bind(&r.node)
            .bind(&r.blob)
            .execute(&mut *tx)
            .await?;
        }
        for c in &counters {
            sqlx::query(
                "INSERT INTO counters (kind, key, day, node, value) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (kind, key, day, node) DO UPDATE SET value = counters.value + excluded.value",
            )
            .bind(&c.kind)
            .bind(&c.key)
            .bind(c.day)
            .bind(&c.node)
            .bind(c.value)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn sketches(&self, kind: &str, key: Option<&str>, from: i64, to: i64) -> Result<Vec<SketchRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, key, day, node, blob FROM sketches WHERE kind = ? AND (? IS NULL OR key = ?) AND day BETWEEN ? AND ?",
        )
        .bind(kind)
        .bind(key)
        .bind(key)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SketchRow {
                    kind: r.try_get("kind")?,
                    key: r.try_get("key")?,
                    day: r.try_get("day")?,
                    node: r.try_get("node")?,
                    blob: r.try_get("blob")?,
                })
            })
            .collect()
    }

    async fn counter_sums(
        &self,
        kind: &str,
        from: i64,
        to: i64,
    ) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT key, SUM(value) FROM counters WHERE kind = ? AND day BETWEEN ? AND ? GROUP BY key")
                .bind(kind)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().collect())
    }

    async fn purge_counts_before(&self, day: i64) -> Result<u64, StoreError> {
        let a = sqlx::query("DELETE FROM sketches WHERE day < ?")
            .bind(day)
            .execute(&self.pool)
            .await?;
        let b = sqlx::query("DELETE FROM counters WHERE day < ?")
            .bind(day)
            .execute(&self.pool)
            .await?;
        Ok(a.rows_affected() + b.rows_affected())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn append_audit(&self, actor: &str, action: &str) -> Result<i64, StoreError> {
        let seq: i64 =
            sqlx::query_scalar("INSERT INTO admin_audit (recorded_at, actor, action) VALUES (?, ?, ?) RETURNING seq")
                .bind(now_ms())
                .bind(actor)
                .bind(action)
                .fetch_one(&self.pool)
                .await?;
        Ok(seq)
    }

    async fn audit_log(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows =
            sqlx::query("SELECT seq, recorded_at, actor, action FROM admin_audit WHERE seq > ? ORDER BY seq LIMIT ?")
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.try_get("seq")?,
                    recorded_at: r.try_get("recorded_at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn put_last_good_rules(&self, set: &StoredRuleSet) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO last_good_rules (id, version, files, saved_at) VALUES (1, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, files = excluded.files, saved_at = excluded.saved_at",
        )
        .bind(&set.version)
        .bind(set.files_json())
        .bind(set.saved_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn last_good_rules(&self) -> Result<Option<StoredRuleSet>, StoreError> {
        let row: Option<(String, String, i64)> =
            sqlx::query_as("SELECT version, files, saved_at FROM last_good_rules WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(version, files, saved_at)| StoredRuleSet::from_row(version, &files, saved_at))
            .transpose()
    }
}
