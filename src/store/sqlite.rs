//! The embedded default: one SQLite file in WAL mode with `synchronous = FULL`, so a write is on
//! disk before it is acknowledged.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::StoreError;
use crate::consent::log::Entry;
use crate::ledger::frontier::Frontier;

/// A SQLite-backed store.
pub struct SqliteStore {
    pool: SqlitePool,
    /// The consent tree's right edge as of the last append (one process owns the file; checked
    /// against the stored size before each use).
    frontier: std::sync::Mutex<Frontier>,
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
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(Arc::new(e)))?;
        Ok(SqliteStore {
            pool,
            frontier: std::sync::Mutex::new(Frontier::new()),
        })
    }
}

/// What SQLite does differently from the shared SQL (`consent_sql.rs`): one process owns the file.
impl SqliteStore {
    /// `BEGIN IMMEDIATE` takes the write lock before anything is read, so the log size read first
    /// cannot change before the append commits.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
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

    /// Removes the pre-Merkle table once converted (its triggers first).
    const DROP_OLD_LOG: &'static [&'static str] = &[
        "DROP TRIGGER IF EXISTS consent_log_no_update",
        "DROP TRIGGER IF EXISTS consent_log_no_delete",
        "DROP TABLE consent_log",
    ];
}

super::sql::sql_store!(SqliteStore, sqlx::Sqlite, sqlx::SqliteConnection, {});
