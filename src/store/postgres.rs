//! PostgreSQL: one database shared by every node. Appends to the consent log are serialised with a
//! transaction-scoped advisory lock, so the tree stays one tree; every consent change is announced
//! with NOTIFY so other nodes update their in-memory records within a second
//! (`postgres_consent.rs`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::Row;

use super::postgres_consent as consent;
use super::{
    AuditEntry, ConsentWatcher, CounterRow, Erased, LogRow, Signer, SketchRow, Store, StoreError, StoredCheckpoint,
    StoredRecord, StoredRuleSet,
};
use crate::consent::log::{Change, Entry};
use crate::ledger::fetched::{Fetched, Key};
use crate::ledger::frontier::Frontier;
use crate::privacy::ConsentSubject;

/// A PostgreSQL-backed store.
pub struct PgStore {
    pool: PgPool,
    /// The tree's right edge as of this node's last append; reread when another node appended.
    frontier: std::sync::Mutex<Frontier>,
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

impl PgStore {
    /// Connects and migrates. Several nodes may start at once: migrations take their own lock.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(PgStore {
            pool,
            frontier: std::sync::Mutex::new(Frontier::new()),
        })
    }
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
        if let Err(e) = listener.listen(consent::CHANNEL).await {
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

#[async_trait]
impl Store for PgStore {
    async fn secret(&self, name: &str, candidate: [u8; 32]) -> Result<[u8; 32], StoreError> {
        sqlx::query("INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(&candidate[..])
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        let v: Vec<u8> = sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
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
        sqlx::query("INSERT INTO daily_salts (day, salt, created_at) VALUES ($1, $2, $3) ON CONFLICT (day) DO NOTHING")
            .bind(day)
            .bind(&candidate[..])
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        let v: Vec<u8> = sqlx::query_scalar("SELECT salt FROM daily_salts WHERE day = $1")
            .bind(day)
            .fetch_one(&self.pool)
            .await?;
        bytes32(v)
    }

    async fn purge_salts_before(&self, day: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM daily_salts WHERE day < $1")
            .bind(day)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn salt_days(&self) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT day FROM daily_salts ORDER BY day")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn network_salt(&self, week: i64, candidate: [u8; 32]) -> Result<[u8; 32], StoreError> {
        sqlx::query(
            "INSERT INTO network_salts (week, salt, created_at) VALUES ($1, $2, $3) ON CONFLICT (week) DO NOTHING",
        )
        .bind(week)
        .bind(&candidate[..])
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        let v: Vec<u8> = sqlx::query_scalar("SELECT salt FROM network_salts WHERE week = $1")
            .bind(week)
            .fetch_one(&self.pool)
            .await?;
        bytes32(v)
    }

    async fn purge_network_salts_before(&self, week: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM network_salts WHERE week < $1")
            .bind(week)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn append_consent(&self, changes: Vec<Change>) -> Result<Vec<Entry>, StoreError> {
        consent::append(&self.pool, &self.frontier, changes).await
    }

    async fn erase_consent(&self, subject: &ConsentSubject, erasure: Change) -> Result<Erased, StoreError> {
        consent::erase(&self.pool, &self.frontier, subject, erasure).await
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
        consent::issue_checkpoint(&self.pool, sign, now_ms()).await
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
        let records: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_records WHERE NOT erased")
            .fetch_one(&self.pool)
            .await?;
        let opt_outs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_records WHERE opted_out")
            .fetch_one(&self.pool)
            .await?;
        Ok((log, records, opt_outs))
    }

    async fn sketch(&self, kind: &str, key: &str, day: i64, node: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT blob FROM sketches WHERE kind = $1 AND key = $2 AND day = $3 AND node = $4")
                .bind(kind)
                .bind(key)
                .bind(day)
                .bind(node)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn put_counts(&self, sketches: Vec<SketchRow>, counters: Vec<CounterRow>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for r in &sketches {
            sqlx::query(
                "INSERT INTO sketches (kind, key, day, node, blob) VALUES ($1, $2, $3, $4, $5) \
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
                "INSERT INTO counters (kind, key, day, node, value) VALUES ($1, $2, $3, $4, $5) \
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
            "SELECT kind, key, day, node, blob FROM sketches WHERE kind = $1 AND ($2::text IS NULL OR key = $2) AND day BETWEEN $3 AND $4",
        )
        .bind(kind)
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

    async fn counter_sums(&self, kind: &str, from: i64, to: i64) -> Result<HashMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT key, SUM(value)::BIGINT FROM counters WHERE kind = $1 AND day BETWEEN $2 AND $3 GROUP BY key",
        )
        .bind(kind)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    async fn purge_counts_before(&self, day: i64) -> Result<u64, StoreError> {
        let a = sqlx::query("DELETE FROM sketches WHERE day < $1")
            .bind(day)
            .execute(&self.pool)
            .await?;
        let b = sqlx::query("DELETE FROM counters WHERE day < $1")
            .bind(day)
            .execute(&self.pool)
            .await?;
        Ok(a.rows_affected() + b.rows_affected())
    }

    fn watch_consent(&self, on_change: ConsentWatcher) {
        tokio::spawn(watch(self.pool.clone(), on_change));
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn append_audit(&self, actor: &str, action: &str) -> Result<i64, StoreError> {
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO admin_audit (recorded_at, actor, action) VALUES ($1, $2, $3) RETURNING seq",
        )
        .bind(now_ms())
        .bind(actor)
        .bind(action)
        .fetch_one(&self.pool)
        .await?;
        Ok(seq)
    }

    async fn audit_log(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows =
            sqlx::query("SELECT seq, recorded_at, actor, action FROM admin_audit WHERE seq > $1 ORDER BY seq LIMIT $2")
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
            "INSERT INTO last_good_rules (id, version, files, saved_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, files = EXCLUDED.files, saved_at = EXCLUDED.saved_at",
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
