//! The embedded default: one SQLite file in WAL mode with `synchronous = FULL`, so a write is on
//! disk before it is acknowledged.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::StoreError;
use crate::domain::ledger::entry::Entry;
use crate::domain::ledger::frontier::Frontier;

/// A SQLite-backed store.
pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection every write goes through (`begin_write`: consent appends and erasures,
    /// checkpoints, sketch flushes). SQLite has one writer per file anyway; a connection of its own
    /// keeps that writer's page cache warm, where a write through a pooled connection would first
    /// discard its cache because another connection changed the file (decision 002).
    writer: SqlitePool,
    /// The task checkpointing the WAL beside the writer; stopped with the store.
    checkpointer: Option<tokio::task::JoinHandle<()>>,
    /// The consent tree's right edge as of the last append (one process owns the file; checked
    /// against the stored size before each use).
    frontier: std::sync::Mutex<Frontier>,
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
                std::fs::create_dir_all(dir).map_err(|e| StoreError::CreateDir {
                    dir: dir.to_path_buf(),
                    source: Arc::new(e),
                })?;
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
            .map_err(|e| StoreError::Migration(Arc::new(e)))?;
        let writer = if path == ":memory:" {
            // Every connection to `:memory:` is a database of its own.
            pool.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                // The consent log's indexes grow with every visitor; 32 MiB keeps their inner pages
                // in memory (SQLite's default is 2 MiB). Checkpoints (copying the WAL back, two more
                // fsyncs) would run inside whichever commit crosses the WAL's threshold, stalling
                // every caller of that batch; `checkpoints` does them beside the writer instead.
                // A batch's upsert of the enforced records still keeps a statement journal (its
                // update half may abort), and past 64 KiB SQLite spills that to a temporary file:
                // `temp_store = MEMORY` keeps it in memory (a batch's worth of pages, a few MiB).
                .connect_with(
                    options
                        .pragma("cache_size", "-32768")
                        .pragma("wal_autocheckpoint", "0")
                        .pragma("temp_store", "MEMORY"),
                )
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

/// What SQLite does differently from the shared SQL (`consent_sql.rs`): one process owns the file.
impl SqliteStore {
    /// `BEGIN IMMEDIATE` takes the write lock before anything is read, so the log size read first
    /// cannot change before the append commits.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Nothing to take: `begin_write` already holds the only writer lock.
    async fn lock_log(_conn: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }

    /// No other node to tell.
    async fn announce(_conn: &mut SqliteConnection, _entries: &[Entry]) -> Result<(), StoreError> {
        Ok(())
    }

    /// The only node issues every checkpoint.
    async fn elect_issuer(_conn: &mut SqliteConnection) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Whether the pre-Merkle `consent_log` table is still there.
    async fn old_log_exists(conn: &mut SqliteConnection) -> Result<bool, StoreError> {
        let old: Option<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'consent_log'")
                .fetch_optional(conn)
                .await?;
        Ok(old.is_some())
    }

    /// How a batch's multi-row inserts begin. A multi-row statement that may abort on a constraint
    /// makes SQLite copy every page it touches to a statement journal first, so that the abort can
    /// undo just that statement: about a tenth of a consent write's CPU. A batch is all or nothing
    /// (its transaction rolls back on any error), so `OR FAIL`, which undoes nothing itself, loses
    /// nothing.
    const INSERT: &'static str = "INSERT OR FAIL INTO";

    /// Removes the pre-Merkle table once converted (its triggers first).
    const DROP_OLD_LOG: &'static [&'static str] = &[
        "DROP TRIGGER IF EXISTS consent_log_no_update",
        "DROP TRIGGER IF EXISTS consent_log_no_delete",
        "DROP TABLE consent_log",
    ];
}

super::sql::sql_store!(SqliteStore, sqlx::Sqlite, sqlx::SqliteConnection, {});
