//! The [`Store`](super::Store) roles both backends share: secrets, salts, counts, the admin audit
//! trail, the last good rule set and readiness, plus the consent ledger from `consent_sql.rs`.
//! Written once as a macro for the reason given in `consent_sql.rs`; what differs per backend
//! (opening, locking, NOTIFY) stays in `sqlite.rs` and `postgres.rs`.

/// Implements every role of [`Store`](super::Store) for `$store` (fields `pool` and `frontier`; the
/// hooks listed in `consent_sql.rs`) with the SQL both backends accept. Items in `{ … }` go into the
/// `ConsentLog` impl as written (PostgreSQL's `watch_consent`); they resolve inside this macro's module.
macro_rules! sql_store {
    ($store:ident, $db:ty, $conn:ty, { $($extra:tt)* }) => {
        $crate::store::consent_sql::consent_sql!($store, $db, $conn);
        $crate::store::experiments::experiments_sql!($store, $db);

        mod sql {
            use std::collections::HashMap;

            use async_trait::async_trait;

            use super::$store;
            use $crate::domain::ledger::entry::{Change, Entry};
            use $crate::domain::counts::Kind;
            use $crate::domain::ledger::fetched::{Fetched, Key};
            use $crate::domain::privacy::ConsentSubject;
            use $crate::store::rows::{bytes32, now_ms};
            use $crate::store::{AuditEntry, CounterRow, Erased, LogRow, Replayed, Signer, SketchRow, StoreError, StoredCheckpoint, StoredRecord, StoredRuleSet, SubjectRange};
            use $crate::store::{AuditRecords, ConsentLog, CountStore, Health, RuleSets, Secrets};

            #[async_trait]
            impl Secrets for $store {
                async fn secret(&self, name: &str, candidate: [u8; 32]) -> Result<[u8; 32], StoreError> {
                    sqlx::query(
                        "INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                    )
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
                    // One statement: the row a concurrent purge could delete between an insert and a
                    // separate read is returned by the insert itself (the stored salt wins).
                    let v: Vec<u8> = sqlx::query_scalar(
                        "INSERT INTO daily_salts (day, salt, created_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (day) DO UPDATE SET salt = daily_salts.salt RETURNING salt",
                    )
                    .bind(day)
                    .bind(&candidate[..])
                    .bind(now_ms())
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
                    // One statement: the row a concurrent purge could delete between an insert and a
                    // separate read is returned by the insert itself (the stored salt wins).
                    let v: Vec<u8> = sqlx::query_scalar(
                        "INSERT INTO network_salts (week, salt, created_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (week) DO UPDATE SET salt = network_salts.salt RETURNING salt",
                    )
                    .bind(week)
                    .bind(&candidate[..])
                    .bind(now_ms())
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
            }

            #[async_trait]
            impl ConsentLog for $store {
                async fn append_consent(&self, changes: Vec<Change>) -> Result<Vec<Entry>, StoreError> {
                    self.consent_append(changes).await
                }

                async fn erase_consent(&self, subject: &ConsentSubject, erasure: Change) -> Result<Erased, StoreError> {
                    self.consent_erase(subject, erasure).await
                }

                async fn consent_records(
                    &self,
                    range: &SubjectRange,
                    each: &mut (dyn FnMut(StoredRecord) + Send),
                ) -> Result<(), StoreError> {
                    self.consent_records_each(range, each).await
                }

                async fn consent_links(
                    &self,
                    range: &SubjectRange,
                    each: &mut (dyn FnMut(String, i64) + Send),
                ) -> Result<(), StoreError> {
                    self.links(range, each).await
                }

                async fn consent_markers(
                    &self,
                    after: i64,
                    before: i64,
                    each: &mut (dyn FnMut(StoredRecord) + Send),
                ) -> Result<(), StoreError> {
                    self.markers(after, before, each).await
                }

                async fn consent_replay(&self, from: u64, to: u64) -> Result<Vec<Replayed>, StoreError> {
                    self.replay_chunk(from, to).await
                }

                async fn purge_consent_tombstones(&self, before_ms: i64) -> Result<u64, StoreError> {
                    self.purge_tombstones(before_ms).await
                }

                async fn consent_log(&self, from: u64, limit: i64) -> Result<Vec<LogRow>, StoreError> {
                    self.log_page(from, limit).await
                }

                async fn consent_log_for(&self, subject: &ConsentSubject) -> Result<Vec<Entry>, StoreError> {
                    self.log_for(subject).await
                }

                async fn consent_receipt(&self, receipt_id: &str) -> Result<Option<Entry>, StoreError> {
                    self.receipt(receipt_id).await
                }

                async fn consent_subtrees(&self, keys: &[Key]) -> Result<Fetched, StoreError> {
                    self.subtrees(keys).await
                }

                async fn consent_size(&self) -> Result<u64, StoreError> {
                    self.log_size().await
                }

                async fn issue_checkpoint(&self, sign: Signer<'_>) -> Result<Option<StoredCheckpoint>, StoreError> {
                    self.issue(sign, now_ms()).await
                }

                async fn checkpoint(&self, size: Option<u64>) -> Result<Option<StoredCheckpoint>, StoreError> {
                    self.checkpoint_of(size).await
                }

                async fn migrate_legacy_log(&self, sources: &[String], policy_versions: &[String]) -> Result<u64, StoreError> {
                    self.migrate_legacy(sources, policy_versions).await
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

                $($extra)*
            }

            #[async_trait]
            impl CountStore for $store {
                async fn sketch(&self, kind: Kind, key: &str, day: i64, node: &str) -> Result<Option<Vec<u8>>, StoreError> {
                    Ok(sqlx::query_scalar(
                        "SELECT blob FROM sketches WHERE kind = $1 AND key = $2 AND day = $3 AND node = $4",
                    )
                    .bind(kind.as_str())
                    .bind(key)
                    .bind(day)
                    .bind(node)
                    .fetch_optional(&self.pool)
                    .await?)
                }

                async fn put_counts(&self, sketches: Vec<SketchRow>, counters: Vec<CounterRow>) -> Result<(), StoreError> {
                    let mut writer = self.writer().await?;
                    let mut tx = Self::begin_write(&mut writer).await?;
                    for r in &sketches {
                        sqlx::query(
                            "INSERT INTO sketches (kind, key, day, node, blob) VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT (kind, key, day, node) DO UPDATE SET blob = excluded.blob",
                        )
                        .bind(r.kind.as_str())
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
                        .bind(c.kind.as_str())
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

                async fn sketches(&self, kind: Kind, key: Option<&str>, from: i64, to: i64) -> Result<Vec<SketchRow>, StoreError> {
                    let rows: Vec<(String, i64, String, Vec<u8>)> = sqlx::query_as(
                        "SELECT key, day, node, blob FROM sketches \
                         WHERE kind = $1 AND (CAST($2 AS TEXT) IS NULL OR key = $2) AND day BETWEEN $3 AND $4",
                    )
                    .bind(kind.as_str())
                    .bind(key)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(key, day, node, blob)| SketchRow {
                            kind,
                            key,
                            day,
                            node,
                            blob,
                        })
                        .collect())
                }

                async fn counter_sums(&self, kind: Kind, from: i64, to: i64) -> Result<HashMap<String, i64>, StoreError> {
                    let rows: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT key, CAST(SUM(value) AS BIGINT) FROM counters \
                         WHERE kind = $1 AND day BETWEEN $2 AND $3 GROUP BY key",
                    )
                    .bind(kind.as_str())
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
            }

            #[async_trait]
            impl AuditRecords for $store {
                async fn append_audit(&self, actor: &str, action: &str) -> Result<i64, StoreError> {
                    Ok(sqlx::query_scalar(
                        "INSERT INTO admin_audit (recorded_at, actor, action) VALUES ($1, $2, $3) RETURNING seq",
                    )
                    .bind(now_ms())
                    .bind(actor)
                    .bind(action)
                    .fetch_one(&self.pool)
                    .await?)
                }

                async fn audit_log(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
                    Ok(sqlx::query_as(
                        "SELECT seq, recorded_at, actor, action FROM admin_audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                    )
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
                }
            }

            #[async_trait]
            impl RuleSets for $store {
                async fn put_last_good_rules(&self, set: &StoredRuleSet) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO last_good_rules (id, version, files, saved_at) VALUES (1, $1, $2, $3) \
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

            #[async_trait]
            impl Health for $store {
                async fn ping(&self) -> Result<(), StoreError> {
                    sqlx::query("SELECT 1").execute(&self.pool).await?;
                    Ok(())
                }
            }
        }
    };
}

pub(super) use sql_store;
