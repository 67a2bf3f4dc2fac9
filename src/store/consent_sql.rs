//! The consent ledger's SQL, written once for both backends: leaves, subjects, complete subtrees,
//! checkpoints and the enforced records, written one batch per transaction by the group-commit
//! writer (in the engine's ledger node).
//!
//! Why a macro and not a function generic over `sqlx::Database`: generic sqlx code needs the same
//! six-line `where` clause (executor, arguments, and every column type's encode and decode) on each
//! function, which buries the SQL; the macro expands this text once per backend with concrete types.
//! Statements use `$n` placeholders and `TRUE`/`FALSE`, which SQLite accepts as PostgreSQL does.
//!
//! Where the backends differ they provide, on the store type:
//! - `writer()`: a connection for writing (SQLite's one writer connection, held until dropped;
//!   a connection of PostgreSQL's writer pool), and `begin_write(conn)`: a transaction on it that
//!   may write (`BEGIN IMMEDIATE` on SQLite, so the size read first cannot go stale);
//! - `lock_log(conn)`: serialise appends across nodes (PostgreSQL's advisory lock; nothing on
//!   SQLite, whose write lock is taken by `begin_write`);
//! - `announce(conn, entries)`: tell other nodes on commit (PostgreSQL's NOTIFY);
//! - `elect_issuer(conn)`: whether this node issues the next checkpoint;
//! - `old_log_exists(conn)` and `DROP_OLD_LOG`: the pre-Merkle table and what removes it;
//! - `INSERT`: how a batch's multi-row inserts begin (`INSERT OR FAIL INTO` on SQLite).

/// Implements the consent half of the store on `$store` (fields `pool` and `frontier`), with
/// `$conn` the backend's connection type.
macro_rules! consent_sql {
    ($store:ident, $db:ty, $conn:ty) => {
        mod consent_sql {
            use futures_util::TryStreamExt;
            use sqlx::QueryBuilder;

            use super::$store;
            use $crate::domain::ledger::entry::{Action, Change, Entry};
            use $crate::domain::ledger::fetched::{Fetched, Key};
            use $crate::domain::ledger::frontier::Frontier;
            use $crate::domain::privacy::ConsentSubject;
            use $crate::store::legacy::{self, LegacyRow};
            use $crate::store::rows::{CheckpointRow, EntryRow, LogEntryRow, OldLogRow, RecordRow, ENTRY_COLUMNS, RECORD_COLUMNS};
            use $crate::store::{last_per_subject, replay, sets_record, Erased, LogRow, Replayed, Signer, StoreError, StoredCheckpoint, StoredRecord, SubjectRange};

            /// SQLite allows 32,766 bound values per statement and PostgreSQL 65,535; a batch stays
            /// well below both per statement.
            const ROWS_PER_STATEMENT: usize = 2_000;

            async fn size(conn: &mut $conn) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM consent_leaves")
                    .fetch_one(conn)
                    .await?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            /// Hashes of the named subtrees.
            pub(in super::super) async fn subtrees(conn: &mut $conn, keys: &[Key]) -> Result<Fetched, StoreError> {
                let mut out = Fetched::default();
                for chunk in keys.chunks(400) {
                    let mut q = QueryBuilder::<$db>::new("SELECT level, idx, hash FROM consent_subtrees WHERE ");
                    let mut sep = q.separated(" OR ");
                    for (level, idx) in chunk {
                        sep.push("(level = ")
                            .push_bind_unseparated(i64::from(*level))
                            .push_unseparated(" AND idx = ")
                            .push_bind_unseparated(*idx as i64)
                            .push_unseparated(")");
                    }
                    let rows: Vec<(i64, i64, Vec<u8>)> = q.build_query_as().fetch_all(&mut *conn).await?;
                    for (level, idx, hash) in rows {
                        let hash = hash
                            .try_into()
                            .map_err(|_| StoreError::Corrupt("a consent log hash is not 32 bytes".into()))?;
                        out.0.insert((level as u32, idx as u64), hash);
                    }
                }
                Ok(out)
            }

            /// The tree's right edge at `size`: the cached one when it is current.
            async fn tree(conn: &mut $conn, size: u64, cache: &std::sync::Mutex<Frontier>) -> Result<Frontier, StoreError> {
                if let Ok(f) = cache.lock() {
                    if f.size() == size {
                        return Ok(f.clone());
                    }
                }
                let positions = Frontier::positions(size);
                let fetched = subtrees(conn, &positions).await?;
                let peaks = positions.iter().filter_map(|k| fetched.0.get(k).copied()).collect();
                Ok(Frontier::from_peaks(size, peaks)?)
            }

            /// Appends `changes` inside the caller's transaction; returns the entries and the new
            /// frontier (kept by the caller once the transaction has committed).
            async fn append_in(
                conn: &mut $conn,
                cache: &std::sync::Mutex<Frontier>,
                changes: Vec<Change>,
            ) -> Result<(Vec<Entry>, Frontier), StoreError> {
                let start = size(conn).await?;
                let mut tree = tree(conn, start, cache).await?;
                let mut rows = Vec::with_capacity(changes.len());
                let mut made = Vec::with_capacity(changes.len() * 2);
                for (i, c) in changes.into_iter().enumerate() {
                    let (subject, nonce) = (c.subject.to_hex(), c.nonce);
                    let e = c.into_entry(start + i as u64)?;
                    made.extend(tree.push(e.leaf_hash));
                    rows.push((e, subject, nonce));
                }
                for chunk in rows.chunks(ROWS_PER_STATEMENT / 12) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "{} consent_leaves (idx, receipt_id, recorded_at, time, action, personalize, measure, advertise, source, policy_version, commitment, leaf_hash) ",
                        $store::INSERT
                    ));
                    q.push_values(chunk, |mut b, (e, _, _)| {
                        b.push_bind(e.index as i64)
                            .push_bind(e.receipt_id.clone())
                            .push_bind(e.recorded_at)
                            .push_bind(e.time.clone())
                            .push_bind(e.action.as_str())
                            .push_bind(e.purposes.personalize)
                            .push_bind(e.purposes.measure)
                            .push_bind(e.purposes.advertise)
                            .push_bind(e.source.clone())
                            .push_bind(e.policy_version.clone())
                            .push_bind(e.commitment.to_vec())
                            .push_bind(e.leaf_hash.to_vec());
                    });
                    q.build().execute(&mut *conn).await?;
                    let mut q = QueryBuilder::<$db>::new(format!("{} consent_subjects (idx, subject, nonce) ", $store::INSERT));
                    q.push_values(chunk, |mut b, (e, s, n)| {
                        b.push_bind(e.index as i64).push_bind(s.clone()).push_bind(n.to_vec());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in made.chunks(ROWS_PER_STATEMENT / 3) {
                    let mut q = QueryBuilder::<$db>::new(format!("{} consent_subtrees (level, idx, hash) ", $store::INSERT));
                    q.push_values(chunk, |mut b, (level, idx, h)| {
                        b.push_bind(i64::from(*level))
                            .push_bind(*idx as i64)
                            .push_bind(h.to_vec());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                let records: Vec<_> = rows.iter().filter(|(e, _, _)| sets_record(e)).cloned().collect();
                for chunk in last_per_subject(&records).chunks(ROWS_PER_STATEMENT / 11) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "{} consent_records (subject, personalize, measure, advertise, opted_out, source, policy_version, receipt_id, recorded_at, pos, erased) ",
                        $store::INSERT
                    ));
                    q.push_values(chunk, |mut b, (e, s, _)| {
                        b.push_bind(s.clone())
                            .push_bind(e.purposes.personalize)
                            .push_bind(e.purposes.measure)
                            .push_bind(e.purposes.advertise)
                            .push_bind(e.action == Action::OptOut)
                            .push_bind(e.source.clone())
                            .push_bind(e.policy_version.clone())
                            .push_bind(e.receipt_id.clone())
                            .push_bind(e.recorded_at)
                            .push_bind(e.index as i64)
                            .push_bind(false);
                    });
                    q.push(
                        " ON CONFLICT (subject) DO UPDATE SET personalize = excluded.personalize, measure = excluded.measure, \
                         advertise = excluded.advertise, opted_out = excluded.opted_out, source = excluded.source, \
                         policy_version = excluded.policy_version, receipt_id = excluded.receipt_id, \
                         recorded_at = excluded.recorded_at, pos = excluded.pos, erased = FALSE",
                    );
                    q.build().execute(&mut *conn).await?;
                }
                Ok((rows.into_iter().map(|(e, _, _)| e).collect(), tree))
            }

            impl $store {
                /// Keeps the frontier of a committed transaction for the next append.
                fn keep(&self, tree: Frontier) {
                    if let Ok(mut c) = self.frontier.lock() {
                        *c = tree;
                    }
                }

                /// `ConsentLog::append_consent`.
                pub(in super::super) async fn consent_append(&self, changes: Vec<Change>) -> Result<Vec<Entry>, StoreError> {
                    let mut writer = self.writer().await?;
                    let mut tx = Self::begin_write(&mut writer).await?;
                    Self::lock_log(&mut tx).await?;
                    let (entries, tree) = append_in(&mut tx, &self.frontier, changes).await?;
                    Self::announce(&mut tx, &entries).await?;
                    tx.commit().await?;
                    self.keep(tree);
                    Ok(entries)
                }

                /// `ConsentLog::erase_consent`.
                pub(in super::super) async fn consent_erase(
                    &self,
                    subject: &ConsentSubject,
                    erasure: Change,
                ) -> Result<Erased, StoreError> {
                    let hex = subject.to_hex();
                    let mut writer = self.writer().await?;
                    let mut tx = Self::begin_write(&mut writer).await?;
                    Self::lock_log(&mut tx).await?;
                    let opted_out: Option<bool> =
                        sqlx::query_scalar("SELECT opted_out FROM consent_records WHERE subject = $1")
                            .bind(&hex)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let entries = sqlx::query("DELETE FROM consent_subjects WHERE subject = $1")
                        .bind(&hex)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    let (mut appended, tree) = append_in(&mut tx, &self.frontier, vec![erasure]).await?;
                    let entry = appended
                        .pop()
                        .ok_or_else(|| StoreError::Corrupt("an erasure appended nothing".into()))?;
                    // The erasure leaf itself names nobody: its nonce is never kept.
                    sqlx::query("DELETE FROM consent_subjects WHERE idx = $1")
                        .bind(entry.index as i64)
                        .execute(&mut *tx)
                        .await?;
                    let suppressed = opted_out.unwrap_or(false);
                    sqlx::query(
                        "INSERT INTO consent_records (subject, personalize, measure, advertise, opted_out, source, policy_version, receipt_id, recorded_at, pos, erased) \
                         VALUES ($1, FALSE, FALSE, FALSE, $2, '-', '-', '-', $3, $4, TRUE) \
                         ON CONFLICT (subject) DO UPDATE SET personalize = FALSE, measure = FALSE, advertise = FALSE, opted_out = excluded.opted_out, \
                         source = '-', policy_version = '-', receipt_id = '-', recorded_at = excluded.recorded_at, pos = excluded.pos, erased = TRUE",
                    )
                    .bind(&hex)
                    .bind(suppressed)
                    .bind(entry.recorded_at)
                    .bind(entry.index as i64)
                    .execute(&mut *tx)
                    .await?;
                    Self::announce(&mut tx, std::slice::from_ref(&entry)).await?;
                    tx.commit().await?;
                    self.keep(tree);
                    Ok(Erased {
                        entries,
                        suppressed,
                        entry,
                    })
                }

                /// `ConsentLog::consent_records`.
                pub(in super::super) async fn consent_records_each(
                    &self,
                    range: &SubjectRange,
                    each: &mut (dyn FnMut(StoredRecord) + Send),
                ) -> Result<(), StoreError> {
                    let sql = format!("SELECT {RECORD_COLUMNS} FROM consent_records WHERE {}", range.clause("subject"));
                    let mut q = sqlx::query_as::<_, RecordRow>(&sql).bind(&range.from);
                    if let Some(to) = &range.to {
                        q = q.bind(to);
                    }
                    let mut rows = q.fetch(&self.pool);
                    while let Some(row) = rows.try_next().await? {
                        each(row.into());
                    }
                    Ok(())
                }

                /// `ConsentLog::consent_links`.
                pub(in super::super) async fn links(
                    &self,
                    range: &SubjectRange,
                    each: &mut (dyn FnMut(String, i64) + Send),
                ) -> Result<(), StoreError> {
                    let sql = format!("SELECT subject, idx FROM consent_subjects WHERE {}", range.clause("subject"));
                    let mut q = sqlx::query_as::<_, (String, i64)>(&sql).bind(&range.from);
                    if let Some(to) = &range.to {
                        q = q.bind(to);
                    }
                    let mut rows = q.fetch(&self.pool);
                    while let Some((subject, idx)) = rows.try_next().await? {
                        each(subject, idx);
                    }
                    Ok(())
                }

                /// `ConsentLog::consent_markers`: the two `EXISTS` tests are what keeps an edited row from
                /// deleting a record the log still holds (`docs/decisions/002-consent-ledger.md`).
                pub(in super::super) async fn markers(
                    &self,
                    after: i64,
                    before: i64,
                    each: &mut (dyn FnMut(StoredRecord) + Send),
                ) -> Result<(), StoreError> {
                    let sql = format!(
                        "SELECT {RECORD_COLUMNS} FROM consent_records r WHERE r.erased AND r.pos > $1 AND r.pos < $2 \
                         AND EXISTS (SELECT 1 FROM consent_leaves l WHERE l.idx = r.pos AND l.action = 'erasure') \
                         AND NOT EXISTS (SELECT 1 FROM consent_subjects s WHERE s.subject = r.subject)"
                    );
                    let mut rows = sqlx::query_as::<_, RecordRow>(&sql).bind(after).bind(before).fetch(&self.pool);
                    while let Some(row) = rows.try_next().await? {
                        each(row.into());
                    }
                    Ok(())
                }

                /// `ConsentLog::consent_replay`: one aggregated row per chunk (`store::replay`).
                pub(in super::super) async fn replay_chunk(&self, from: u64, to: u64) -> Result<Vec<Replayed>, StoreError> {
                    let (count, text): (i64, Option<String>) = sqlx::query_as(replay::SQL)
                        .bind(from as i64)
                        .bind(to as i64)
                        .fetch_one(&self.pool)
                        .await?;
                    replay::parse(count, text.as_deref(), from, to)
                }

                /// `ConsentLog::purge_consent_tombstones`.
                pub(in super::super) async fn purge_tombstones(&self, before_ms: i64) -> Result<u64, StoreError> {
                    Ok(
                        sqlx::query("DELETE FROM consent_records WHERE erased AND NOT opted_out AND recorded_at < $1")
                            .bind(before_ms)
                            .execute(&self.pool)
                            .await?
                            .rows_affected(),
                    )
                }

                /// `ConsentLog::consent_log`.
                pub(in super::super) async fn log_page(&self, from: u64, limit: i64) -> Result<Vec<LogRow>, StoreError> {
                    let sql = format!(
                        "SELECT {ENTRY_COLUMNS}, s.subject, s.nonce FROM consent_leaves l \
                         LEFT JOIN consent_subjects s ON s.idx = l.idx WHERE l.idx >= $1 ORDER BY l.idx LIMIT $2"
                    );
                    let rows: Vec<LogEntryRow> =
                        sqlx::query_as(&sql).bind(from as i64).bind(limit).fetch_all(&self.pool).await?;
                    rows.into_iter()
                        .map(|r| {
                            Ok(LogRow {
                                entry: r.entry.try_into()?,
                                subject: r.subject.zip(r.nonce),
                            })
                        })
                        .collect()
                }

                /// `ConsentLog::consent_log_for`.
                pub(in super::super) async fn log_for(&self, subject: &ConsentSubject) -> Result<Vec<Entry>, StoreError> {
                    let sql = format!(
                        "SELECT {ENTRY_COLUMNS} FROM consent_subjects s JOIN consent_leaves l ON l.idx = s.idx \
                         WHERE s.subject = $1 ORDER BY l.idx"
                    );
                    let rows: Vec<EntryRow> =
                        sqlx::query_as(&sql).bind(subject.to_hex()).fetch_all(&self.pool).await?;
                    rows.into_iter().map(Entry::try_from).collect()
                }

                /// `ConsentLog::consent_receipt`.
                pub(in super::super) async fn receipt(&self, receipt_id: &str) -> Result<Option<Entry>, StoreError> {
                    let sql = format!("SELECT {ENTRY_COLUMNS} FROM consent_leaves l WHERE l.receipt_id = $1");
                    let row: Option<EntryRow> = sqlx::query_as(&sql).bind(receipt_id).fetch_optional(&self.pool).await?;
                    row.map(Entry::try_from).transpose()
                }

                /// `ConsentLog::consent_size`.
                pub(in super::super) async fn log_size(&self) -> Result<u64, StoreError> {
                    size(&mut *self.pool.acquire().await?).await
                }

                /// `ConsentLog::consent_subtrees`.
                pub(in super::super) async fn subtrees(&self, keys: &[Key]) -> Result<Fetched, StoreError> {
                    subtrees(&mut *self.pool.acquire().await?, keys).await
                }

                /// `ConsentLog::issue_checkpoint`.
                pub(in super::super) async fn issue(
                    &self,
                    sign: Signer<'_>,
                    now_ms: i64,
                ) -> Result<Option<StoredCheckpoint>, StoreError> {
                    let mut writer = self.writer().await?;
                    let mut tx = Self::begin_write(&mut writer).await?;
                    if !Self::elect_issuer(&mut tx).await? {
                        return Ok(None);
                    }
                    // The append lock too: the size and the subtrees read below must be one tree.
                    Self::lock_log(&mut tx).await?;
                    let n = size(&mut tx).await?;
                    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(size) FROM consent_checkpoints")
                        .fetch_one(&mut *tx)
                        .await?;
                    if n == 0 || last.is_some_and(|l| l as u64 >= n) {
                        return Ok(None);
                    }
                    let positions = Frontier::positions(n);
                    let fetched = subtrees(&mut tx, &positions).await?;
                    let peaks = positions.iter().filter_map(|k| fetched.0.get(k).copied()).collect();
                    let root = Frontier::from_peaks(n, peaks)?.root();
                    let note = sign(n, root);
                    sqlx::query("INSERT INTO consent_checkpoints (size, note, issued_at) VALUES ($1, $2, $3)")
                        .bind(n as i64)
                        .bind(&note)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(Some(StoredCheckpoint {
                        size: n,
                        note,
                        issued_at: now_ms,
                    }))
                }

                /// `ConsentLog::checkpoint`.
                pub(in super::super) async fn checkpoint_of(&self, size: Option<u64>) -> Result<Option<StoredCheckpoint>, StoreError> {
                    let row: Option<CheckpointRow> = match size {
                        Some(s) => {
                            sqlx::query_as("SELECT size, note, issued_at FROM consent_checkpoints WHERE size = $1")
                                .bind(s as i64)
                                .fetch_optional(&self.pool)
                                .await?
                        }
                        None => {
                            sqlx::query_as("SELECT size, note, issued_at FROM consent_checkpoints ORDER BY size DESC LIMIT 1")
                                .fetch_optional(&self.pool)
                                .await?
                        }
                    };
                    Ok(row.map(StoredCheckpoint::from))
                }

                /// `ConsentLog::migrate_legacy_log`.
                pub(in super::super) async fn migrate_legacy(
                    &self,
                    sources: &[String],
                    policy_versions: &[String],
                ) -> Result<u64, StoreError> {
                    let mut writer = self.writer().await?;
                    let mut tx = Self::begin_write(&mut writer).await?;
                    Self::lock_log(&mut tx).await?;
                    if !Self::old_log_exists(&mut tx).await? {
                        return Ok(0);
                    }
                    let rows: Vec<OldLogRow> = sqlx::query_as(
                        "SELECT receipt_id, recorded_at, subject, action, personalize, measure, advertise, source, policy_version FROM consent_log ORDER BY seq",
                    )
                    .fetch_all(&mut *tx)
                    .await?;
                    let changes = rows
                        .into_iter()
                        .map(|r| legacy::change(LegacyRow::from(r), sources, policy_versions))
                        .collect::<Result<Vec<_>, _>>()?;
                    let n = changes.len() as u64;
                    let mut tree = None;
                    for chunk in changes.chunks(1_000) {
                        tree = Some(append_in(&mut tx, &self.frontier, chunk.to_vec()).await?.1);
                    }
                    // Records carried free text too; they are rebuilt from the converted entries above.
                    sqlx::query("UPDATE consent_records SET source = 'legacy', policy_version = 'legacy' WHERE pos < 0")
                        .execute(&mut *tx)
                        .await?;
                    for stmt in Self::DROP_OLD_LOG {
                        sqlx::query(stmt).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    if let Some(t) = tree {
                        self.keep(t);
                    }
                    Ok(n)
                }
            }
        }
    };
}

pub(super) use consent_sql;
