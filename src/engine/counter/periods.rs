//! Analysis periods: which period an experiment's counts go to. A period starts when an
//! experiment's fingerprint (`domain::rules::period`) differs from its latest period's; the start
//! is stored (every node agrees on the number: the first writer wins) and added to the audit trail.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::engine::audit::{self, Action};
use crate::store::experiments::PeriodRow;
use crate::store::{Store, StoreError};

/// How long after a period started, units counted under an earlier configuration (not yet flushed
/// at the reload, or from a node still on the old rules during a rolling deploy) still go to that
/// configuration's period instead of starting yet another one.
pub const ROLLOUT_GRACE_MS: i64 = 10 * 60 * 1000;

/// Who the audit trail names for a period start.
const ACTOR: &str = "rules";

/// The latest period of each experiment, cached; the store is the truth.
pub struct Periods {
    store: Arc<dyn Store>,
    latest: Mutex<HashMap<String, PeriodRow>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Periods {
    /// Periods kept in `store`.
    pub fn new(store: Arc<dyn Store>) -> Periods {
        Periods {
            store,
            latest: Mutex::new(HashMap::new()),
        }
    }

    /// The period counts of `experiment` under `fingerprint` go to, starting one when the
    /// fingerprint differs from the latest period's (unless an earlier period had it and the latest
    /// started less than [`ROLLOUT_GRACE_MS`] ago: then that earlier period). `None` only when a
    /// race to start a period could not be settled.
    pub async fn resolve(&self, experiment: &str, fingerprint: &str, now_ms: i64) -> Result<Option<i64>, StoreError> {
        if let Some(p) = lock(&self.latest).get(experiment) {
            if p.fingerprint == fingerprint {
                return Ok(Some(p.period));
            }
        }
        // Twice at most: a lost race to start a period reads the winner's.
        for _ in 0..2 {
            let periods = self.store.periods(Some(experiment)).await?;
            if let Some(last) = periods.last() {
                lock(&self.latest).insert(experiment.to_string(), last.clone());
                if last.fingerprint == fingerprint {
                    return Ok(Some(last.period));
                }
                // Counted under an earlier configuration shortly after it was replaced (the last
                // flush before a reload, a node still on the old rules): it belongs to that period.
                let earlier = periods.iter().rev().find(|p| p.fingerprint == fingerprint);
                if let Some(p) = earlier.filter(|_| now_ms - last.started_at < ROLLOUT_GRACE_MS) {
                    return Ok(Some(p.period));
                }
            }
            let row = PeriodRow {
                experiment: experiment.to_string(),
                period: periods.last().map_or(1, |p| p.period + 1),
                fingerprint: fingerprint.to_string(),
                started_at: now_ms,
            };
            if self.store.start_period(&row).await? {
                tracing::info!(experiment, period = row.period, "experiment analysis period started");
                if let Err(e) = audit::record(self.store.as_ref(), ACTOR, Action::ExperimentPeriodStarted).await {
                    tracing::error!(error = %e, "a period start could not be added to the audit trail");
                }
                let period = row.period;
                lock(&self.latest).insert(experiment.to_string(), row);
                return Ok(Some(period));
            }
        }
        Ok(None)
    }

    /// Every period of `experiment`, oldest first.
    pub async fn all(&self, experiment: &str) -> Result<Vec<PeriodRow>, StoreError> {
        self.store.periods(Some(experiment)).await
    }
}
