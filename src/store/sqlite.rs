//! The embedded default: one SQLite file in WAL mode with `synchronous = FULL`, so a write is on
//! disk before it is acknowledged.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::Mutex;

use super::{CounterRow, SketchRow, Store, StoreError, StoredRecord, StoredRuleSet};
use crate::consent::log::{Action, Change, Entry, GENESIS};
use crate::consent::Purposes;

/// A SQLite-backed store.
pub struct SqliteStore {
    pool: SqlitePool,
    /// One process owns the file: appends are serialised here so the chain has no forks.
    append: Mutex<()>,
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

fn entry(row: &SqliteRow) -> Result<Entry, StoreError> {
    let action: String = row.try_get("action")?;
    Ok(Entry {
        seq: row.try_get("seq")?,
        receipt_id: row.try_get("receipt_id")?,
        recorded_at: row.try_get("recorded_at")?,
        subject: row.try_get("subject")?,
        action: Action::parse(&action).ok_or_else(|| StoreError::Corrupt(format!("unknown action {action:?}")))?,
        purposes: Purposes {
            personalize: row.try_get("personalize")?,
            measure: row.try_get("measure")?,
            advertise: row.try_get("advertise")?,
        },
        source: row.try_get("source")?,
        policy_version: row.try_get("policy_version")?,
        prev_hash: row.try_get("prev_hash")?,
        entry_hash: row.try_get("entry_hash")?,
    })
}

const LOG_COLUMNS: &str =
    "seq, receipt_id, recorded_at, subject, action, personalize, measure, advertise, source, policy_version, prev_hash, entry_hash";

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
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(SqliteStore {
            pool,
            append: Mutex::new(()),
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

    async fn append_consent(&self, change: Change) -> Result<Entry, StoreError> {
        let _guard = self.append.lock().await;
        // Every write transaction here starts IMMEDIATE: a deferred one that reads first and then
        // writes fails at once with SQLITE_BUSY_SNAPSHOT when the sketch flush committed in between
        // (busy_timeout cannot help a stale snapshot), and a visitor's choice was lost as a 503.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, entry_hash FROM consent_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
        let (seq, prev) = last.map_or((1, GENESIS.to_string()), |(s, h)| (s + 1, h));
        let e = change.into_entry(seq, prev);
        sqlx::query(
            "INSERT INTO consent_log (seq, receipt_id, recorded_at, subject, action, personalize, measure, advertise, source, policy_version, prev_hash, entry_hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.seq)
        .bind(&e.receipt_id)
        .bind(e.recorded_at)
        .bind(&e.subject)
        .bind(e.action.as_str())
        .bind(e.purposes.personalize)
        .bind(e.purposes.measure)
        .bind(e.purposes.advertise)
        .bind(&e.source)
        .bind(&e.policy_version)
        .bind(&e.prev_hash)
        .bind(&e.entry_hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO consent_records (subject, personalize, measure, advertise, opted_out, source, policy_version, receipt_id, recorded_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (subject) DO UPDATE SET personalize = excluded.personalize, measure = excluded.measure, \
             advertise = excluded.advertise, opted_out = excluded.opted_out, source = excluded.source, \
             policy_version = excluded.policy_version, receipt_id = excluded.receipt_id, recorded_at = excluded.recorded_at",
        )
        .bind(&e.subject)
        .bind(e.purposes.personalize)
        .bind(e.purposes.measure)
        .bind(e.purposes.advertise)
        .bind(e.action == Action::OptOut)
        .bind(&e.source)
        .bind(&e.policy_version)
        .bind(&e.receipt_id)
        .bind(e.recorded_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(e)
    }

    async fn consent_records(&self) -> Result<Vec<StoredRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT subject, personalize, measure, advertise, opted_out, recorded_at FROM consent_records")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredRecord {
                    subject: r.try_get("subject")?,
                    purposes: Purposes {
                        personalize: r.try_get("personalize")?,
                        measure: r.try_get("measure")?,
                        advertise: r.try_get("advertise")?,
                    },
                    opted_out: r.try_get("opted_out")?,
                    recorded_at: r.try_get("recorded_at")?,
                })
            })
            .collect()
    }

    async fn consent_log(&self, after: i64, limit: i64) -> Result<Vec<Entry>, StoreError> {
        let sql = format!("SELECT {LOG_COLUMNS} FROM consent_log WHERE seq > ? ORDER BY seq LIMIT ?");
        let rows = sqlx::query(&sql).bind(after).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(entry).collect()
    }

    async fn consent_log_for(&self, subject: &str) -> Result<Vec<Entry>, StoreError> {
        let sql = format!("SELECT {LOG_COLUMNS} FROM consent_log WHERE subject = ? ORDER BY seq");
        let rows = sqlx::query(&sql).bind(subject).fetch_all(&self.pool).await?;
        rows.iter().map(entry).collect()
    }

    async fn consent_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        let log: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_log")
            .fetch_one(&self.pool)
            .await?;
        let records: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_records")
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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
