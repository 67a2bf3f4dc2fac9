//! Group commit: many concurrent writers, one durable batch at a time.
//!
//! Each caller hands its item to one writer task and waits for the result of *its* item. The writer
//! takes whatever is queued (up to a batch limit), makes it durable in one transaction and one fsync
//! (the sink's job), and only then answers every caller of the batch. A caller therefore never gets
//! an acknowledgement for a write that is not on disk, and throughput grows with concurrency instead
//! of being capped at one fsync per write. One writer also means appends never race each other for
//! the database's write lock.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

/// Why a submitted item got no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError<E> {
    /// The batch failed as a whole; nothing of it was made durable.
    #[error("the batch could not be committed")]
    Sink(E),
    /// The writer has stopped (shutdown).
    #[error("the writer has stopped")]
    Closed,
}

type Job<T, R, E> = (T, oneshot::Sender<Result<R, CommitError<E>>>);

/// The handle callers submit through; cheap to clone.
pub struct GroupCommit<T, R, E> {
    tx: mpsc::Sender<Job<T, R, E>>,
}

impl<T, R, E> Clone for GroupCommit<T, R, E> {
    fn clone(&self) -> Self {
        GroupCommit { tx: self.tx.clone() }
    }
}

/// Commits one batch: every item durable, or an error and none of them.
pub trait Sink<T, R, E>: Send + Sync + 'static {
    /// Writes `items` in one transaction and returns one result per item, in order.
    fn commit(&self, items: Vec<T>) -> impl Future<Output = Result<Vec<R>, E>> + Send;
}

impl<T, R, E> GroupCommit<T, R, E>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Clone + Send + 'static,
{
    /// Starts the writer task on the current runtime. `max_batch` bounds one transaction; `queue`
    /// bounds how many callers may wait (beyond it, `submit` waits for room: back-pressure).
    pub fn start<S: Sink<T, R, E>>(sink: Arc<S>, max_batch: usize, queue: usize) -> GroupCommit<T, R, E> {
        let (tx, mut rx) = mpsc::channel::<Job<T, R, E>>(queue.max(1));
        let max_batch = max_batch.max(1);
        tokio::spawn(async move {
            let mut jobs = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut jobs, max_batch).await > 0 {
                let (items, replies): (Vec<T>, Vec<_>) = jobs.drain(..).unzip();
                let n = items.len();
                let started = std::time::Instant::now();
                let result = sink.commit(items).await;
                tracing::debug!(
                    target: "personify::ledger::group_commit",
                    items = n,
                    micros = started.elapsed().as_micros() as u64,
                    "batch committed"
                );
                match result {
                    Ok(results) if results.len() == n => {
                        for (reply, r) in replies.into_iter().zip(results) {
                            let _ = reply.send(Ok(r));
                        }
                    }
                    Ok(_) => {
                        // A sink that answers for a different number of items is a bug; nobody is
                        // told their write succeeded.
                        for reply in replies {
                            let _ = reply.send(Err(CommitError::Closed));
                        }
                    }
                    Err(e) => {
                        for reply in replies {
                            let _ = reply.send(Err(CommitError::Sink(e.clone())));
                        }
                    }
                }
            }
        });
        GroupCommit { tx }
    }

    /// Submits one item and waits until its batch is durable.
    pub async fn submit(&self, item: T) -> Result<R, CommitError<E>> {
        let (reply, rx) = oneshot::channel();
        self.tx.send((item, reply)).await.map_err(|_| CommitError::Closed)?;
        rx.await.map_err(|_| CommitError::Closed)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    /// A sink that appends to a vector, slowly, like an fsync.
    #[derive(Default)]
    struct SlowLog {
        rows: Mutex<Vec<u32>>,
        batches: AtomicUsize,
        fail_on: Option<u32>,
    }

    impl Sink<u32, usize, String> for SlowLog {
        async fn commit(&self, items: Vec<u32>) -> Result<Vec<usize>, String> {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if self.fail_on.is_some_and(|f| items.contains(&f)) {
                return Err("disk full".into());
            }
            self.batches.fetch_add(1, Ordering::SeqCst);
            let mut rows = self.rows.lock().unwrap();
            Ok(items
                .into_iter()
                .map(|i| {
                    rows.push(i);
                    rows.len()
                })
                .collect())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_batches_and_each_gets_its_own_position() {
        let sink = Arc::new(SlowLog::default());
        let gc = GroupCommit::start(Arc::clone(&sink), 64, 1024);
        let tasks: Vec<_> = (0..200u32)
            .map(|i| {
                let gc = gc.clone();
                tokio::spawn(async move { (i, gc.submit(i).await) })
            })
            .collect();
        let mut positions = Vec::new();
        for t in tasks {
            let (i, r) = t.await.unwrap();
            let pos = r.unwrap();
            // The position a caller is told holds exactly its item: acknowledged means written.
            assert_eq!(sink.rows.lock().unwrap()[pos - 1], i);
            positions.push(pos);
        }
        positions.sort();
        assert_eq!(positions, (1..=200).collect::<Vec<_>>());
        let batches = sink.batches.load(Ordering::SeqCst);
        assert!(
            batches < 100,
            "{batches} batches for 200 concurrent writes: no grouping"
        );
    }

    #[tokio::test]
    async fn a_failed_batch_acknowledges_none_of_its_writes() {
        let sink = Arc::new(SlowLog {
            fail_on: Some(7),
            ..SlowLog::default()
        });
        let gc = GroupCommit::start(Arc::clone(&sink), 1, 16);
        assert_eq!(gc.submit(7).await, Err(CommitError::Sink("disk full".to_string())));
        assert_eq!(gc.submit(8).await, Ok(1));
        assert_eq!(*sink.rows.lock().unwrap(), vec![8]);
    }
}
