//! How far into the consent log this node's book is: every entry up to [`LogPosition::applied`] is
//! enforced here. A page view that carries the receipt of a choice just made on another node waits
//! (briefly) for that position, so a grant is seen on the next page whichever node answers. Why a
//! grant waits and a denial does not: `docs/decisions/015-read-your-writes.md`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::metrics::{Metrics, OutcomeLabel};

/// The longest a page view waits for a log position it names.
pub const MAX_WAIT: Duration = Duration::from_millis(50);

/// The position of the last log entry whose effect the book holds, with waiters.
pub struct LogPosition {
    applied: watch::Sender<i64>,
    /// Wakes the catch-up task (the same `Notify` another node's announcement pokes).
    catch_up: Arc<Notify>,
    /// Where waits are counted.
    metrics: Option<Arc<Metrics>>,
}

/// What a wait for a position ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// The book already held it.
    Already,
    /// It was applied while waiting.
    Waited,
    /// Not within the wait: the answer is on what the node has.
    TimedOut,
}

impl LogPosition {
    /// A position after `applied` (the index the start's load reached; -1 for an empty log).
    pub fn new(applied: i64, catch_up: Arc<Notify>) -> Self {
        LogPosition {
            applied: watch::Sender::new(applied),
            catch_up,
            metrics: None,
        }
    }

    /// Counts waits in `metrics` (`personify_consent_position_waits`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The index of the last entry applied (-1 for none).
    pub fn applied(&self) -> i64 {
        *self.applied.borrow()
    }

    /// The catch-up task's wake-up.
    pub fn catch_up(&self) -> Arc<Notify> {
        Arc::clone(&self.catch_up)
    }

    /// Moves the position forward to `to` (never back: a catch-up that started before a newer
    /// advance finished after it).
    pub fn advance(&self, to: i64) {
        self.applied.send_if_modified(|p| {
            let moved = to > *p;
            if moved {
                *p = to;
            }
            moved
        });
    }

    /// This node appended entry `index` and put its record in the book: the position moves to it
    /// only when it is the next one, since an earlier entry written elsewhere may not be applied
    /// yet (the catch-up covers that case).
    pub fn wrote(&self, index: u64) {
        let Ok(index) = i64::try_from(index) else { return };
        self.applied.send_if_modified(|p| {
            let next = *p + 1 == index;
            if next {
                *p = index;
            }
            next
        });
    }

    /// Waits at most `within` until entry `index` is applied, asking for a catch-up if it is not.
    pub async fn reach(&self, index: u64, within: Duration) -> Reached {
        let want = i64::try_from(index).unwrap_or(i64::MAX);
        let mut seen = self.applied.subscribe();
        if *seen.borrow_and_update() >= want {
            return Reached::Already;
        }
        self.catch_up.notify_one();
        let reached = tokio::time::timeout(within, seen.wait_for(|p| *p >= want)).await;
        let (reached, outcome) = match reached {
            Ok(Ok(_)) => (Reached::Waited, "applied"),
            _ => (Reached::TimedOut, "timed_out"),
        };
        if let Some(m) = &self.metrics {
            m.position_waits.get_or_create(&OutcomeLabel { outcome }).inc();
        }
        reached
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(at: i64) -> LogPosition {
        LogPosition::new(at, Arc::new(Notify::new()))
    }

    #[test]
    fn the_position_only_moves_forward() {
        let p = position(4);
        p.advance(9);
        p.advance(7);
        assert_eq!(p.applied(), 9);
    }

    #[test]
    fn a_local_write_moves_the_position_only_when_it_is_the_next_entry() {
        let p = position(4);
        p.wrote(6);
        assert_eq!(p.applied(), 4, "entry 5 may be another node's, not applied yet");
        p.wrote(5);
        assert_eq!(p.applied(), 5);
        p.wrote(u64::MAX);
        assert_eq!(p.applied(), 5);
    }

    #[tokio::test]
    async fn a_wait_ends_when_the_position_is_applied_or_the_time_is_up() {
        let p = Arc::new(position(10));
        assert_eq!(p.reach(10, MAX_WAIT).await, Reached::Already);
        assert_eq!(p.reach(0, MAX_WAIT).await, Reached::Already);

        // The applier moves only once the wait has asked for a catch-up.
        let poked = p.catch_up();
        let applier = {
            let p = Arc::clone(&p);
            tokio::spawn(async move {
                poked.notified().await;
                tokio::time::sleep(Duration::from_millis(9)).await;
                p.advance(12);
            })
        };
        assert_eq!(p.reach(12, Duration::from_secs(60)).await, Reached::Waited);
        applier.await.unwrap();

        let started = std::time::Instant::now();
        assert_eq!(p.reach(13, Duration::from_millis(20)).await, Reached::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(p.reach(u64::MAX, Duration::from_millis(1)).await, Reached::TimedOut);
    }
}
