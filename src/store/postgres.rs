//! PostgreSQL: one database shared by every node. Appends to the consent log are serialised with a
//! transaction-scoped advisory lock, so the tree stays one tree; every consent change is announced
//! with NOTIFY so other nodes update their in-memory records within a second. The SQL itself is
//! shared with SQLite (`sql.rs`, `consent_sql.rs`); what is PostgreSQL's own is here.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{Connection, Postgres, Transaction};

use super::{ConsentWatcher, StoreError};
use crate::domain::ledger::entry::Entry;
use crate::domain::ledger::frontier::Frontier;

/// Advisory lock key serialising consent-log appends across nodes.
const APPEND_LOCK: i64 = 0x7065_7273_6f6e_6966; // "personif"
/// Advisory lock key electing the node that issues a checkpoint.
const CHECKPOINT_LOCK: i64 = 0x7065_7273_636b_7074; // "persckpt"
/// NOTIFY channel: the position of the newest change, so other nodes read records after theirs.
pub const CHANNEL: &str = "personify_consent";

/// How long a write waits for one of the writer connections before the store counts as unavailable.
const WRITE_WAIT: Duration = Duration::from_secs(30);

/// A PostgreSQL-backed store.
pub struct PgStore {
    pool: PgPool,
    /// Connections of their own for writes (`begin_write`: consent appends and erasures,
    /// checkpoints, sketch flushes). Sharing the pool with reads, a slow commit let the consent sync,
    /// the flush's reads and the listener take every connection, and a consent write gave up after
    /// the acquire timeout (503 in a mixed soak). A write waiting for another write of this node is
    /// queueing, not a failure: it waits up to [`WRITE_WAIT`].
    writer: PgPool,
    /// The tree's right edge as of this node's last append; reread when another node appended.
    frontier: std::sync::Mutex<Frontier>,
}

impl PgStore {
    /// Connects and migrates. Several nodes may start at once: migrations take their own lock.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        PgStore::open_with(url, None).await
    }

    /// Like [`PgStore::open`]; with a CA file every connection is TLS, verified against it.
    pub async fn open_with(url: &str, ca_file: Option<&Path>) -> Result<PgStore, StoreError> {
        let options = connect_options(url, ca_file)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(Arc::new(e)))?;
        // Two: a sketch flush and a consent batch may commit side by side (appends still take turns
        // under the advisory lock).
        let writer = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(WRITE_WAIT)
            .connect_with(options)
            .await?;
        Ok(PgStore {
            pool,
            writer,
            frontier: std::sync::Mutex::new(Frontier::new()),
        })
    }
}

/// The URL's options, with `store.ca_file` applied. sqlx reads the CA file only on connecting and
/// then reports a TLS error, so a missing or empty file is named here first. `verify-full` rather
/// than `verify-ca`: a CA that signs certificates for many hosts (a managed provider's) would
/// otherwise let any of them stand in for the database.
fn connect_options(url: &str, ca_file: Option<&Path>) -> Result<PgConnectOptions, StoreError> {
    let options = PgConnectOptions::from_str(url)?;
    let Some(path) = ca_file else {
        return Ok(options);
    };
    let pem = std::fs::read_to_string(path).map_err(|e| StoreError::CaFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(StoreError::CaFile {
            path: path.to_path_buf(),
            message: "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        });
    }
    Ok(options.ssl_mode(PgSslMode::VerifyFull).ssl_root_cert(path))
}

/// Listens for consent changes made on other nodes and pokes `on_change` for each (and once after
/// every (re)connect, since anything announced while disconnected was missed).
async fn watch(pool: PgPool, on_change: ConsentWatcher) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "consent listener cannot connect; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "consent listener cannot LISTEN; retrying");
            tokio::time::sleep(backoff).await;
            continue;
        }
        backoff = Duration::from_millis(200);
        on_change();
        loop {
            match listener.recv().await {
                Ok(_) => on_change(),
                Err(e) => {
                    tracing::warn!(error = %e, "consent listener lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}

/// What PostgreSQL does differently from the shared SQL (`consent_sql.rs`): several nodes write
/// one database.
impl PgStore {
    /// A connection of the writer pool.
    async fn writer(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        Ok(self.writer.acquire().await?)
    }

    /// A plain transaction; appends serialise on [`PgStore::lock_log`] instead.
    async fn begin_write(conn: &mut PgConnection) -> Result<Transaction<'_, Postgres>, StoreError> {
        Ok(conn.begin().await?)
    }

    /// Serialises consent-log appends across nodes until the transaction ends.
    async fn lock_log(conn: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Tells other nodes (on commit) that records changed up to the last entry's index.
    async fn announce(conn: &mut PgConnection, entries: &[Entry]) -> Result<(), StoreError> {
        if let Some(last) = entries.last() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(last.index.to_string())
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// Whichever node takes the checkpoint lock first issues the checkpoint; the others find it
    /// taken and skip this round.
    async fn elect_issuer(conn: &mut PgConnection) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(CHECKPOINT_LOCK)
            .fetch_one(conn)
            .await?)
    }

    /// Whether the pre-Merkle `consent_log` table is still there.
    async fn old_log_exists(conn: &mut PgConnection) -> Result<bool, StoreError> {
        let old: Option<String> = sqlx::query_scalar("SELECT to_regclass('consent_log')::text")
            .fetch_one(conn)
            .await?;
        Ok(old.is_some())
    }

    /// How a batch's multi-row inserts begin (SQLite's differs).
    const INSERT: &'static str = "INSERT INTO";

    /// Removes the pre-Merkle table once converted (and its append-only trigger function).
    const DROP_OLD_LOG: &'static [&'static str] = &[
        "DROP TABLE consent_log",
        "DROP FUNCTION IF EXISTS consent_log_append_only()",
    ];
}

super::sql::sql_store!(PgStore, sqlx::Postgres, sqlx::PgConnection, {
    fn watch_consent(&self, on_change: crate::store::ConsentWatcher) {
        tokio::spawn(super::watch(self.pool.clone(), on_change));
    }
});
