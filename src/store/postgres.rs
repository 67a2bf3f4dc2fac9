//! PostgreSQL: one database shared by every node. Appends to the consent log are serialised with a
//! transaction-scoped advisory lock, so the chain stays one chain; every consent change is announced
//! with NOTIFY so other nodes update their in-memory records within a second.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::Row;

use super::{ConsentWatcher, CounterRow, SketchRow, Store, StoreError, StoredRecord, StoredRuleSet};
use crate::consent::log::{Action, Change, Entry, GENESIS};
use crate::consent::Purposes;

/// Advisory lock key serialising consent-log appends across nodes.
const APPEND_LOCK: i64 = 0x7065_7273_6f6e_6966; // "personif"
/// NOTIFY channel for consent changes.
pub const CHANNEL: &str = "personify_consent";

/// A PostgreSQL-backed store.
pub struct PgStore {
    pool: PgPool,
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

fn entry(row: &PgRow) -> Result<Entry, StoreError> {
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

fn record(r: &PgRow) -> Result<StoredRecord, StoreError> {
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
}

const LOG_COLUMNS: &str =
    "seq, receipt_id, recorded_at, subject, action, personalize, measure, advertise, source, policy_version, prev_hash, entry_hash";

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
        Ok(PgStore { pool })
    }
}

/// Listens for consent changes; on a lost connection, reconnects and resyncs everything.
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
        // Anything announced while disconnected is picked up by a full resync.
        if let Ok(rows) =
            sqlx::query("SELECT subject, personalize, measure, advertise, opted_out, recorded_at FROM consent_records")
                .fetch_all(&pool)
                .await
        {
            rows.iter().filter_map(|r| record(r).ok()).for_each(|r| on_change(r));
        }
        loop {
            match listener.recv().await {
                Ok(n) => match serde_json::from_str::<serde_json::Value>(n.payload()) {
                    Ok(v) => {
                        let b = |k: &str| v[k].as_bool().unwrap_or(false);
                        on_change(StoredRecord {
                            subject: v["s"].as_str().unwrap_or_default().to_string(),
                            purposes: Purposes {
                                personalize: b("p"),
                                measure: b("m"),
                                advertise: b("a"),
                            },
                            opted_out: b("o"),
                            recorded_at: v["t"].as_i64().unwrap_or(0),
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "unreadable consent notification ignored"),
                },
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

    async fn append_consent(&self, change: Change) -> Result<Entry, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK)
            .execute(&mut *tx)
            .await?;
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, entry_hash FROM consent_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
        let (seq, prev) = last.map_or((1, GENESIS.to_string()), |(s, h)| (s + 1, h));
        let e = change.into_entry(seq, prev);
        sqlx::query(&format!(
            "INSERT INTO consent_log ({LOG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
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
        let opted_out = e.action == Action::OptOut;
        sqlx::query(
            "INSERT INTO consent_records (subject, personalize, measure, advertise, opted_out, source, policy_version, receipt_id, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (subject) DO UPDATE SET personalize = excluded.personalize, measure = excluded.measure, \
             advertise = excluded.advertise, opted_out = excluded.opted_out, source = excluded.source, \
             policy_version = excluded.policy_version, receipt_id = excluded.receipt_id, recorded_at = excluded.recorded_at",
        )
        .bind(&e.subject)
        .bind(e.purposes.personalize)
        .bind(e.purposes.measure)
        .bind(e.purposes.advertise)
        .bind(opted_out)
        .bind(&e.source)
        .bind(&e.policy_version)
        .bind(&e.receipt_id)
        .bind(e.recorded_at)
        .execute(&mut *tx)
        .await?;
        let p = e.purposes;
        let payload = serde_json::json!({"s": e.subject, "p": p.personalize, "m": p.measure, "a": p.advertise, "o": opted_out, "t": e.recorded_at});
        // Delivered on commit, to every node listening.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload.to_string())
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
        rows.iter().map(record).collect()
    }

    async fn consent_log(&self, after: i64, limit: i64) -> Result<Vec<Entry>, StoreError> {
        let sql = format!("SELECT {LOG_COLUMNS} FROM consent_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = sqlx::query(&sql).bind(after).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(entry).collect()
    }

    async fn consent_log_for(&self, subject: &str) -> Result<Vec<Entry>, StoreError> {
        let sql = format!("SELECT {LOG_COLUMNS} FROM consent_log WHERE subject = $1 ORDER BY seq");
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
