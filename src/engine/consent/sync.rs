//! Keeps the in-memory [`ConsentBook`] in step with the store: a load from the log at start, then
//! incremental reads by log position whenever another node announces a change (and every 30 s as
//! the safety net for a lost announcement).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{stream, StreamExt, TryStreamExt};

use crate::domain::consent::{ConsentBook, Purposes, Record};
use crate::domain::privacy::ConsentSubject;
use crate::engine::consent::position::LogPosition;
use crate::store::{ConsentLog, Replayed, Store, StoreError, StoredRecord};

/// Safety-net period between incremental reads.
const PERIOD: Duration = Duration::from_secs(30);
/// How long an erasure tombstone stays so every node forgets the visitor (a node that was down
/// longer reloads everything at start anyway).
const TOMBSTONE_TTL_MS: i64 = 24 * 3_600_000;

/// Log entries read per replay query: large enough that a query's own cost vanishes, small enough
/// that a chunk's text (about 100 bytes an entry) stays under a megabyte.
const CHUNK: u64 = 8_192;
/// Replay queries in flight: the next chunk is read (on a connection of its own) while the current
/// one is applied, so the store and the book work at once on two cores.
const AHEAD: usize = 2;

/// How a replayed entry reaches the book.
#[derive(Debug, Clone, Copy)]
enum Apply {
    /// Whatever is held (a load, where log order is all there is).
    Replace,
    /// Unless a newer record is held (a catch-up: this node may have written a newer one since the
    /// log's size was read).
    UnlessNewer,
}

fn record(e: &Replayed) -> Record {
    Record {
        purposes: e.purposes,
        opted_out: e.opted_out,
        recorded_at: e.recorded_at,
    }
}

/// Applies one erasure marker: an opt-out stays as a suppression, anything else is forgotten.
fn apply_marker(book: &ConsentBook, r: &StoredRecord) {
    let Some(subject) = ConsentSubject::from_hex(&r.subject) else {
        return;
    };
    if r.opted_out {
        book.put(
            &subject,
            Record {
                purposes: Purposes::NONE,
                opted_out: true,
                recorded_at: r.recorded_at,
            },
        );
    } else {
        book.remove(&subject);
    }
}

/// Reads `[from, to)` a `chunk` at a time, [`AHEAD`] chunks at once, and hands every chunk to
/// `each` in log order, whichever read finishes first (`buffered` keeps the order they were asked
/// for in; `buffer_unordered` would not).
async fn in_log_order<F, R>(
    from: u64,
    to: u64,
    chunk: u64,
    read: R,
    mut each: impl FnMut(Vec<Replayed>),
) -> Result<(), StoreError>
where
    R: FnMut(u64) -> F,
    F: Future<Output = Result<Vec<Replayed>, StoreError>>,
{
    let step = usize::try_from(chunk.max(1)).unwrap_or(usize::MAX);
    let mut chunks = stream::iter((from..to).step_by(step)).map(read).buffered(AHEAD);
    while let Some(entries) = chunks.try_next().await? {
        each(entries);
    }
    Ok(())
}

/// Applies the log after position `after` (the index last applied, -1 for none) to `book`: every
/// entry still linked to its visitor, in order, then the erasure markers of the erasures among
/// them. Returns the new position. Only the log and the markers a real erasure could have left
/// are read (`Store::consent_markers`); the `consent_records` table is never trusted here, so an
/// edit to it changes nothing any node enforces, now or after a restart, and `verify` reports it
/// (`crate::engine::ledger::verify`).
async fn apply_log(
    store: &(impl ConsentLog + ?Sized),
    book: &ConsentBook,
    after: i64,
    how: Apply,
) -> Result<i64, StoreError> {
    let size = store.consent_size().await?;
    let from = u64::try_from(after.saturating_add(1)).unwrap_or(0);
    let read = |at: u64| store.consent_replay(at, size.min(at + CHUNK));
    in_log_order(from, size, CHUNK, read, |entries| {
        for e in &entries {
            match how {
                Apply::Replace => book.set(&e.subject, record(e)),
                Apply::UnlessNewer => book.put(&e.subject, record(e)),
            }
        }
    })
    .await?;
    let end = i64::try_from(size).unwrap_or(i64::MAX);
    store
        .consent_markers(after, end, &mut |r| apply_marker(book, &r))
        .await?;
    Ok(end - 1)
}

/// Rebuilds `book` from the log at start; returns the position reached.
pub async fn load(store: &(impl ConsentLog + ?Sized), book: &ConsentBook) -> Result<i64, StoreError> {
    apply_log(store, book, -1, Apply::Replace).await
}

/// Applies what was appended after position `from`; returns the new position.
pub async fn catch_up(store: &(impl ConsentLog + ?Sized), book: &ConsentBook, from: i64) -> Result<i64, StoreError> {
    apply_log(store, book, from, Apply::UnlessNewer).await
}

/// Runs forever: catches up whenever the position's catch-up is poked (another node announced a
/// change, or a page view waits for an entry) or the period passes.
pub async fn run(
    store: Arc<dyn Store>,
    book: Arc<ConsentBook>,
    position: Arc<LogPosition>,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let changed = position.catch_up();
    // Page views may poke many catch-ups a second; the tombstone purge (a write) keeps the period.
    let mut purged = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PERIOD) => {}
            _ = changed.notified() => {}
        }
        match catch_up(store.as_ref(), &book, position.applied()).await {
            Ok(p) => position.advance(p),
            Err(e) => {
                metrics.store_error("consent_resync");
                tracing::warn!(error = %e, "consent resync failed; will retry");
            }
        }
        if purged.elapsed() < PERIOD {
            continue;
        }
        purged = tokio::time::Instant::now();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64) -> Replayed {
        Replayed {
            index,
            subject: ConsentSubject::from_hex(&hex::encode([1u8; 32])).unwrap(),
            purposes: Purposes::NONE,
            opted_out: false,
            recorded_at: 0,
        }
    }

    #[tokio::test]
    async fn chunks_are_applied_in_log_order_whichever_read_finishes_first() {
        let mut seen = Vec::new();
        let read = |from: u64| async move {
            // The first chunk's read is the slowest: the second finishes before it.
            if from == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(vec![entry(from), entry(from + 1)])
        };
        in_log_order(0, 25, 10, read, |c| seen.extend(c.iter().map(|e| e.index)))
            .await
            .unwrap();
        assert_eq!(seen, [0, 1, 10, 11, 20, 21]);

        let failing = |from: u64| async move {
            match from {
                10 => Err(StoreError::Corrupt("chunk".into())),
                _ => Ok(vec![entry(from)]),
            }
        };
        assert!(in_log_order(0, 30, 10, failing, |_| {}).await.is_err());
        in_log_order(0, 0, 10, read, |_| unreachable!()).await.unwrap();
        seen.clear();
        in_log_order(12, 25, 10, read, |c| seen.extend(c.iter().map(|e| e.index)))
            .await
            .unwrap();
        assert_eq!(seen, [12, 13, 22, 23], "a catch-up starts where the last one ended");
    }
}
