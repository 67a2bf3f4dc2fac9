//! Keeps the in-memory [`ConsentBook`] in step with the store: a streamed load at start, then
//! incremental reads by log position whenever another node announces a change (and every 30 s as
//! the safety net for a lost announcement).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::{ConsentBook, Record};
use crate::privacy::ConsentSubject;
use crate::store::{Store, StoreError, StoredRecord};

/// Safety-net period between incremental reads.
const PERIOD: Duration = Duration::from_secs(30);
/// How long an erasure tombstone stays so every node forgets the visitor (a node that was down
/// longer reloads everything at start anyway).
const TOMBSTONE_TTL_MS: i64 = 24 * 3_600_000;
/// Records read per incremental page.
const PAGE: i64 = 10_000;

/// Applies one stored record; returns its position.
fn apply(book: &ConsentBook, r: &StoredRecord) -> i64 {
    if let Some(subject) = ConsentSubject::from_hex(&r.subject) {
        if r.erased && !r.opted_out {
            book.remove(&subject);
        } else {
            book.put(
                &subject,
                Record {
                    purposes: r.purposes,
                    opted_out: r.opted_out,
                    recorded_at: r.recorded_at,
                },
            );
        }
    }
    r.pos
}

/// Rebuilds `book` from the log (every entry still linked to its visitor, in order), then applies
/// the erasure markers, which live outside the log; returns the highest position seen. The
/// `consent_records` table is not trusted here: an edit to it changes nothing a restart enforces,
/// and `verify` reports it (`crate::ledger::audit`).
pub async fn load(store: &dyn Store, book: &ConsentBook) -> Result<i64, StoreError> {
    let mut last = -1i64;
    let mut bad = false;
    store
        .consent_replay(&mut |r| match ConsentSubject::from_hex(&r.subject) {
            Some(subject) => {
                book.set(
                    &subject,
                    Record {
                        purposes: r.purposes,
                        opted_out: r.opted_out,
                        recorded_at: r.recorded_at,
                    },
                );
                last = last.max(r.pos);
            }
            None => bad = true,
        })
        .await?;
    if bad {
        return Err(StoreError::Corrupt(
            "a consent log subject is not 64 hex characters".into(),
        ));
    }
    store
        .consent_records(true, &mut |r| {
            last = last.max(apply(book, &r));
        })
        .await?;
    Ok(last)
}

/// Reads records changed after `from` (page by page); returns the new position.
pub async fn catch_up(store: &dyn Store, book: &ConsentBook, from: i64) -> Result<i64, StoreError> {
    let mut pos = from;
    loop {
        let page = store.consent_records_since(pos, PAGE).await?;
        for r in &page {
            pos = pos.max(apply(book, r));
        }
        if (page.len() as i64) < PAGE {
            return Ok(pos);
        }
    }
}

/// Runs forever: catches up whenever `changed` is notified or the period passes.
pub async fn run(
    store: Arc<dyn Store>,
    book: Arc<ConsentBook>,
    changed: Arc<Notify>,
    start: i64,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let pos = AtomicI64::new(start);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PERIOD) => {}
            _ = changed.notified() => {}
        }
        match catch_up(store.as_ref(), &book, pos.load(Ordering::Relaxed)).await {
            Ok(p) => pos.store(p, Ordering::Relaxed),
            Err(e) => {
                metrics.store_error("consent_resync");
                tracing::warn!(error = %e, "consent resync failed; will retry");
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        if let Err(e) = store.purge_consent_tombstones(now - TOMBSTONE_TTL_MS).await {
            metrics.store_error("purge");
            tracing::warn!(error = %e, "erasure tombstone purge failed; will retry");
        }
    }
}
