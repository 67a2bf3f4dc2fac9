//! The consent ledger on PostgreSQL: the same tables as the SQLite file, shared by every node. A
//! batch takes a transaction-scoped advisory lock, so nodes append to one tree in turn; a commit
//! announces the new position with NOTIFY so other nodes read what changed.

use std::sync::Mutex;

use futures_util::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};

use super::legacy::{self, LegacyRow};
use super::{last_per_subject, sets_record, Erased, LogRow, Signer, StoreError, StoredCheckpoint, StoredRecord};
use crate::consent::log::{Action, Change, Entry};
use crate::consent::Purposes;
use crate::ledger::fetched::{Fetched, Key};
use crate::ledger::frontier::Frontier;
use crate::ledger::merkle::Hash;
use crate::privacy::ConsentSubject;

/// PostgreSQL allows 65,535 bound values per statement; a batch stays well below it per statement.
const ROWS_PER_STATEMENT: usize = 2_000;

const ENTRY_COLUMNS: &str =
    "l.idx, l.receipt_id, l.recorded_at, l.time, l.action, l.personalize, l.measure, l.advertise, l.source, l.policy_version, l.commitment, l.leaf_hash";

fn hash(v: Vec<u8>) -> Result<Hash, StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt("a consent log hash is not 32 bytes".into()))
}

/// An entry from a row selected with [`ENTRY_COLUMNS`].
pub fn entry(row: &PgRow) -> Result<Entry, StoreError> {
    let action: String = row.try_get("action")?;
    let idx: i64 = row.try_get("idx")?;
    Ok(Entry {
        index: u64::try_from(idx).map_err(|_| StoreError::Corrupt("negative leaf index".into()))?,
        receipt_id: row.try_get("receipt_id")?,
        recorded_at: row.try_get("recorded_at")?,
        time: row.try_get("time")?,
        action: Action::parse(&action).ok_or_else(|| StoreError::Corrupt("unknown consent action".into()))?,
        purposes: Purposes {
            personalize: row.try_get("personalize")?,
            measure: row.try_get("measure")?,
            advertise: row.try_get("advertise")?,
        },
        source: row.try_get("source")?,
        policy_version: row.try_get("policy_version")?,
        commitment: hash(row.try_get("commitment")?)?,
        leaf_hash: hash(row.try_get("leaf_hash")?)?,
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
        pos: r.try_get("pos")?,
        erased: r.try_get("erased")?,
    })
}

/// Advisory lock key serialising consent-log appends across nodes.
const APPEND_LOCK: i64 = 0x7065_7273_6f6e_6966; // "personif"
/// Advisory lock key electing the node that issues a checkpoint.
const CHECKPOINT_LOCK: i64 = 0x7065_7273_636b_7074; // "persckpt"
/// NOTIFY channel: the position of the newest change, so other nodes read records after theirs.
pub const CHANNEL: &str = "personify_consent";

async fn lock(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(APPEND_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// Tells other nodes (on commit) that records changed up to the last entry's index.
async fn notify(conn: &mut PgConnection, entries: &[Entry]) -> Result<(), StoreError> {
    if let Some(last) = entries.last() {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(last.index.to_string())
            .execute(conn)
            .await?;
    }
    Ok(())
}

const RECORD_COLUMNS: &str = "subject, personalize, measure, advertise, opted_out, recorded_at, pos, erased";

async fn size(conn: &mut PgConnection) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM consent_leaves")
        .fetch_one(conn)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Hashes of the named subtrees.
pub async fn subtrees(conn: &mut PgConnection, keys: &[Key]) -> Result<Fetched, StoreError> {
    let mut out = Fetched::default();
    for chunk in keys.chunks(400) {
        let mut q = QueryBuilder::<Postgres>::new("SELECT level, idx, hash FROM consent_subtrees WHERE ");
        let mut sep = q.separated(" OR ");
        for (level, idx) in chunk {
            sep.push("(level = ")
                .push_bind_unseparated(i64::from(*level))
                .push_unseparated(" AND idx = ")
                .push_bind_unseparated(*idx as i64)
                .push_unseparated(")");
        }
        for row in q.build().fetch_all(&mut *conn).await? {
            let level: i64 = row.try_get("level")?;
            let idx: i64 = row.try_get("idx")?;
            out.0.insert((level as u32, idx as u64), hash(row.try_get("hash")?)?);
        }
    }
    Ok(out)
}

async fn frontier(conn: &mut PgConnection, size: u64, cache: &Mutex<Frontier>) -> Result<Frontier, StoreError> {
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

/// Appends `changes` inside the caller's transaction; returns the entries and the new frontier.
async fn append_in(
    conn: &mut PgConnection,
    cache: &Mutex<Frontier>,
    changes: Vec<Change>,
) -> Result<(Vec<Entry>, Frontier), StoreError> {
    let start = size(conn).await?;
    let mut tree = frontier(conn, start, cache).await?;
    let mut rows = Vec::with_capacity(changes.len());
    let mut made = Vec::with_capacity(changes.len() * 2);
    for (i, c) in changes.into_iter().enumerate() {
        let (subject, nonce) = (c.subject.to_hex(), c.nonce);
        let e = c.into_entry(start + i as u64)?;
        made.extend(tree.push(e.leaf_hash));
        rows.push((e, subject, nonce));
    }
    for chunk in rows.chunks(ROWS_PER_STATEMENT / 12) {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO consent_leaves (idx, receipt_id, recorded_at, time, action, personalize, measure, advertise, source, policy_version, commitment, leaf_hash) ",
        );
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
        let mut q = QueryBuilder::<Postgres>::new("INSERT INTO consent_subjects (idx, subject, nonce) ");
        q.push_values(chunk, |mut b, (e, s, n)| {
            b.push_bind(e.index as i64).push_bind(s.clone()).push_bind(n.to_vec());
        });
        q.build().execute(&mut *conn).await?;
    }
    for chunk in made.chunks(ROWS_PER_STATEMENT / 3) {
        let mut q = QueryBuilder::<Postgres>::new("INSERT INTO consent_subtrees (level, idx, hash) ");
        q.push_values(chunk, |mut b, (level, idx, h)| {
            b.push_bind(i64::from(*level))
                .push_bind(*idx as i64)
                .push_bind(h.to_vec());
        });
        q.build().execute(&mut *conn).await?;
    }
    let records: Vec<_> = rows.iter().filter(|(e, _, _)| sets_record(e)).cloned().collect();
    for chunk in last_per_subject(&records).chunks(ROWS_PER_STATEMENT / 11) {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO consent_records (subject, personalize, measure, advertise, opted_out, source, policy_version, receipt_id, recorded_at, pos, erased) ",
        );
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

/// [`super::Store::append_consent`].
pub async fn append(pool: &PgPool, cache: &Mutex<Frontier>, changes: Vec<Change>) -> Result<Vec<Entry>, StoreError> {
    let mut tx = pool.begin().await?;
    lock(&mut tx).await?;
    let (entries, tree) = append_in(&mut tx, cache, changes).await?;
    notify(&mut tx, &entries).await?;
    tx.commit().await?;
    if let Ok(mut c) = cache.lock() {
        *c = tree;
    }
    Ok(entries)
}

/// [`super::Store::erase_consent`].
pub async fn erase(
    pool: &PgPool,
    cache: &Mutex<Frontier>,
    subject: &ConsentSubject,
    erasure: Change,
) -> Result<Erased, StoreError> {
    let hex = subject.to_hex();
    let mut tx = pool.begin().await?;
    lock(&mut tx).await?;
    let opted_out: Option<bool> = sqlx::query_scalar("SELECT opted_out FROM consent_records WHERE subject = $1")
        .bind(&hex)
        .fetch_optional(&mut *tx)
        .await?;
    let entries = sqlx::query("DELETE FROM consent_subjects WHERE subject = $1")
        .bind(&hex)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let (mut appended, tree) = append_in(&mut tx, cache, vec![erasure]).await?;
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
    notify(&mut tx, std::slice::from_ref(&entry)).await?;
    tx.commit().await?;
    if let Ok(mut c) = cache.lock() {
        *c = tree;
    }
    Ok(Erased {
        entries,
        suppressed,
        entry,
    })
}

/// [`super::Store::consent_records`].
pub async fn records(
    pool: &PgPool,
    erased_only: bool,
    each: &mut (dyn FnMut(StoredRecord) + Send),
) -> Result<(), StoreError> {
    let filter = if erased_only { " WHERE erased = TRUE" } else { "" };
    let sql = format!("SELECT {RECORD_COLUMNS} FROM consent_records{filter}");
    let mut rows = sqlx::query(&sql).fetch(pool);
    while let Some(row) = rows.try_next().await? {
        each(record(&row)?);
    }
    Ok(())
}

/// [`super::Store::consent_replay`].
pub async fn replay(pool: &PgPool, each: &mut (dyn FnMut(StoredRecord) + Send)) -> Result<(), StoreError> {
    let sql = "SELECT s.subject, l.personalize, l.measure, l.advertise, l.action = 'opt_out' AS opted_out, \
               l.recorded_at, l.idx AS pos, FALSE AS erased \
               FROM consent_subjects s JOIN consent_leaves l ON l.idx = s.idx \
               WHERE l.action <> 'erasure' ORDER BY s.idx";
    let mut rows = sqlx::query(sql).fetch(pool);
    while let Some(row) = rows.try_next().await? {
        each(record(&row)?);
    }
    Ok(())
}

/// [`super::Store::consent_records_since`].
pub async fn records_since(pool: &PgPool, pos: i64, limit: i64) -> Result<Vec<StoredRecord>, StoreError> {
    let sql = format!("SELECT {RECORD_COLUMNS} FROM consent_records WHERE pos > $1 ORDER BY pos LIMIT $2");
    let rows = sqlx::query(&sql).bind(pos).bind(limit).fetch_all(pool).await?;
    rows.iter().map(record).collect()
}

/// [`super::Store::purge_consent_tombstones`].
pub async fn purge_tombstones(pool: &PgPool, before_ms: i64) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM consent_records WHERE erased AND NOT opted_out AND recorded_at < $1")
            .bind(before_ms)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// [`super::Store::consent_log`].
pub async fn log(pool: &PgPool, from: u64, limit: i64) -> Result<Vec<LogRow>, StoreError> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS}, s.subject, s.nonce FROM consent_leaves l LEFT JOIN consent_subjects s ON s.idx = l.idx \
         WHERE l.idx >= $1 ORDER BY l.idx LIMIT $2"
    );
    let rows = sqlx::query(&sql).bind(from as i64).bind(limit).fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            let subject: Option<String> = r.try_get("subject")?;
            let nonce: Option<Vec<u8>> = r.try_get("nonce")?;
            Ok(LogRow {
                entry: entry(r)?,
                subject: subject.zip(nonce),
            })
        })
        .collect()
}

/// [`super::Store::consent_log_for`].
pub async fn log_for(pool: &PgPool, subject: &str) -> Result<Vec<Entry>, StoreError> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM consent_subjects s JOIN consent_leaves l ON l.idx = s.idx WHERE s.subject = $1 ORDER BY l.idx"
    );
    let rows = sqlx::query(&sql).bind(subject).fetch_all(pool).await?;
    rows.iter().map(entry).collect()
}

/// [`super::Store::consent_receipt`].
pub async fn receipt(pool: &PgPool, receipt_id: &str) -> Result<Option<Entry>, StoreError> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM consent_leaves l WHERE l.receipt_id = $1");
    let row = sqlx::query(&sql).bind(receipt_id).fetch_optional(pool).await?;
    row.as_ref().map(entry).transpose()
}

/// [`super::Store::consent_size`].
pub async fn log_size(pool: &PgPool) -> Result<u64, StoreError> {
    size(&mut *pool.acquire().await?).await
}

fn checkpoint_row(r: &PgRow) -> Result<StoredCheckpoint, StoreError> {
    let size: i64 = r.try_get("size")?;
    Ok(StoredCheckpoint {
        size: size as u64,
        note: r.try_get("note")?,
        issued_at: r.try_get("issued_at")?,
    })
}

/// [`super::Store::issue_checkpoint`]: whichever node takes the checkpoint lock first issues it;
/// the others find it taken and skip this round.
pub async fn issue_checkpoint(
    pool: &PgPool,
    sign: Signer<'_>,
    now_ms: i64,
) -> Result<Option<StoredCheckpoint>, StoreError> {
    let mut tx = pool.begin().await?;
    let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(CHECKPOINT_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !leader {
        return Ok(None);
    }
    // The append lock too: the size and the subtrees read below must be one tree.
    lock(&mut tx).await?;
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

/// [`super::Store::checkpoint`].
pub async fn checkpoint(pool: &PgPool, size: Option<u64>) -> Result<Option<StoredCheckpoint>, StoreError> {
    let row = match size {
        Some(s) => {
            sqlx::query("SELECT size, note, issued_at FROM consent_checkpoints WHERE size = $1")
                .bind(s as i64)
                .fetch_optional(pool)
                .await?
        }
        None => {
            sqlx::query("SELECT size, note, issued_at FROM consent_checkpoints ORDER BY size DESC LIMIT 1")
                .fetch_optional(pool)
                .await?
        }
    };
    row.as_ref().map(checkpoint_row).transpose()
}

/// [`super::Store::migrate_legacy_log`].
pub async fn migrate_legacy(
    pool: &PgPool,
    cache: &Mutex<Frontier>,
    sources: &[String],
    policy_versions: &[String],
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    lock(&mut tx).await?;
    let old: Option<String> = sqlx::query_scalar("SELECT to_regclass('consent_log')::text")
        .fetch_one(&mut *tx)
        .await?;
    if old.is_none() {
        return Ok(0);
    }
    let rows = sqlx::query(
        "SELECT receipt_id, recorded_at, subject, action, personalize, measure, advertise, source, policy_version FROM consent_log ORDER BY seq",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut changes = Vec::with_capacity(rows.len());
    for r in &rows {
        let row = LegacyRow {
            receipt_id: r.try_get("receipt_id")?,
            recorded_at: r.try_get("recorded_at")?,
            subject: r.try_get("subject")?,
            action: r.try_get("action")?,
            purposes: Purposes {
                personalize: r.try_get("personalize")?,
                measure: r.try_get("measure")?,
                advertise: r.try_get("advertise")?,
            },
            source: r.try_get("source")?,
            policy_version: r.try_get("policy_version")?,
        };
        changes.push(legacy::change(row, sources, policy_versions)?);
    }
    let n = changes.len() as u64;
    let mut tree = None;
    for chunk in changes.chunks(1_000) {
        tree = Some(append_in(&mut tx, cache, chunk.to_vec()).await?.1);
    }
    // Records carried free text too; they are rebuilt from the converted entries above.
    sqlx::query("UPDATE consent_records SET source = 'legacy', policy_version = 'legacy' WHERE pos < 0")
        .execute(&mut *tx)
        .await?;
    for stmt in [
        "DROP TABLE consent_log",
        "DROP FUNCTION IF EXISTS consent_log_append_only()",
    ] {
        sqlx::query(stmt).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    if let (Some(t), Ok(mut c)) = (tree, cache.lock()) {
        *c = t;
    }
    Ok(n)
}
