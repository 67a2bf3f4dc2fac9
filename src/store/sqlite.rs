//! The embedded default: one SQLite file in WAL mode with `synchronous = FULL`, so a write is on
//! disk before it is acknowledged.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use super::StoreError;
use crate::domain::ledger::entry::Entry;
use crate::domain::ledger::frontier::Frontier;

/// A SQLite-backed store.
pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection every write goes through (`writer`: consent appends and erasures,
    /// checkpoints, sketch and unit flushes), held by one write at a time. SQLite has one writer per
    /// file anyway; a connection of its own keeps that writer's page cache warm, where a write
    /// through a pooled connection would first discard its cache because another connection changed
    /// the file (decision 002). It is not a pool of one: a pool tests a connection when it is taken
    /// and again when it is given back, on a task of its own, and those round trips to the
    /// connection's thread were a fifth of a consent batch's time.
    writer: Arc<Mutex<SqliteConnection>>,
    /// The task checkpointing the WAL beside the writer; stopped with the store.
    checkpointer: Option<tokio::task::JoinHandle<()>>,
    /// The consent tree's right edge as of the last append (one process owns the file; checked
    /// against the stored size before each use).
    frontier: std::sync::Mutex<Frontier>,
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// WAL frames (pages) beyond which the WAL is rewound (about 16 MiB).
const WAL_REWIND_FRAMES: i64 = 4_096;
/// WAL frames left to copy at most before the writer's connection copies them itself (about 2 MiB).
const WAL_LEFT_FOR_WRITER: i64 = 512;
/// Passive checkpoints in a row at most while waiting for the uncopied frames to fall below
/// [`WAL_LEFT_FOR_WRITER`].
const CATCH_UP_ROUNDS: usize = 8;

/// One `PRAGMA wal_checkpoint(PASSIVE)`: the WAL's frames and those copied back, both as of its end.
async fn passive(conn: impl sqlx::SqliteExecutor<'_>) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(conn)
        .await
        .map(|(_, log, copied)| (log, copied))
}

/// Checkpoints the WAL on a pooled connection, beside the writer, and rewinds it before it grows
/// large, without holding the writer for longer than a few milliseconds.
///
/// `PASSIVE` copies what it can without waiting for, or blocking, the writer or readers. SQLite
/// rewinds the WAL when a write transaction begins on a WAL that is entirely copied back; under a
/// steady stream of commits a checkpoint beside the writer never finishes at that moment, so the WAL
/// would grow without bound. Past [`WAL_REWIND_FRAMES`], passive checkpoints follow each other until
/// fewer than [`WAL_LEFT_FOR_WRITER`] frames are left to copy, and then one more runs on the
/// writer's own connection, between two commits: it copies those last frames (nothing can be
/// appended meanwhile), and the next write rewinds the WAL: writes wait 10-30 ms for it every
/// second or so on a 1M-entry log. A `RESTART` checkpoint there instead copied everything the
/// passive ones had not, fsynced the file and then waited for every reader to leave the WAL: about
/// 100 ms of stalled writes every half second, and far longer while the start's verify was reading.
async fn checkpoints(pool: SqlitePool, writer: Arc<Mutex<SqliteConnection>>, dir: PathBuf) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = checkpoint_once(&pool, &writer, &dir).await {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    }
}

/// One round of [`checkpoints`].
async fn checkpoint_once(pool: &SqlitePool, writer: &Mutex<SqliteConnection>, dir: &Path) -> Result<(), sqlx::Error> {
    let (mut log, mut copied) = passive(pool).await?;
    if log <= WAL_REWIND_FRAMES {
        return Ok(());
    }
    for _ in 0..CATCH_UP_ROUNDS {
        if log - copied <= WAL_LEFT_FOR_WRITER {
            break;
        }
        (log, copied) = passive(pool).await?;
    }
    // A passive checkpoint that ends while a commit is arriving does not fsync the database file;
    // the writer's, which always finishes, would then fsync every page copied since inside its
    // hold (50-130 ms on a 1M-entry log). Flushed beside the writer first, it has a few left.
    let dir = dir.to_path_buf();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || sync_filesystem(&dir)).await {
        tracing::warn!(error = %e, "flushing the database's file system before a WAL rewind failed");
    }
    passive(&mut *writer.lock().await).await?;
    Ok(())
}

/// Flushes the file system holding `dir` (`syncfs`). Not an fsync of the database file itself: that
/// needs a descriptor of the file, and closing any descriptor of a SQLite file releases every POSIX
/// lock the process holds on it, SQLite's own included. A directory's descriptor holds no such lock.
#[cfg(target_os = "linux")]
fn sync_filesystem(dir: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let d = std::fs::File::open(dir)?;
    // SAFETY: `d` is an open descriptor for the whole call; syncfs reads no memory of ours.
    if unsafe { libc::syncfs(d.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Elsewhere the writer's checkpoint does all the flushing.
#[cfg(not(target_os = "linux"))]
fn sync_filesystem(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// The directory of the database file `path`.
fn data_dir(path: &str) -> PathBuf {
    match Path::new(path).parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
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
        // The consent log's indexes grow with every visitor; 32 MiB keeps their inner pages in
        // memory (SQLite's default is 2 MiB). Checkpoints (copying the WAL back, two more fsyncs)
        // would run inside whichever commit crosses the WAL's threshold, stalling every caller of
        // that batch; `checkpoints` does them beside the writer instead. A batch's upsert of the
        // enforced records still keeps a statement journal (its update half may abort), and past
        // 64 KiB SQLite spills that to a temporary file: `temp_store = MEMORY` keeps it in memory
        // (a batch's worth of pages, a few MiB). sqlx names every connection to `:memory:` of one
        // options value the same shared in-memory database, so the writer sees the pool's tables.
        let writer = options
            .pragma("cache_size", "-32768")
            .pragma("wal_autocheckpoint", "0")
            .pragma("temp_store", "MEMORY")
            .connect()
            .await?;
        let writer = Arc::new(Mutex::new(writer));
        let checkpointer =
            (path != ":memory:").then(|| tokio::spawn(checkpoints(pool.clone(), Arc::clone(&writer), data_dir(path))));
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
    async fn begin_write(conn: &mut SqliteConnection) -> Result<Transaction<'_, Sqlite>, StoreError> {
        Ok(conn.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The writer connection, for as long as the guard is held.
    async fn writer(&self) -> Result<MutexGuard<'_, SqliteConnection>, StoreError> {
        Ok(self.writer.lock().await)
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
