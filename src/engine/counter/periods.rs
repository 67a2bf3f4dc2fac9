//! Analysis periods: which period an experiment's counts go to. A period starts when an
//! experiment's fingerprint (`domain::rules::period`) differs from its latest period's; the start
//! is stored (every node agrees on the number: the first writer wins) and added to the audit trail.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::engine::audit::{self, Action};
use crate::store::experiments::PeriodRow;
use crate::store::{Store, StoreError};

/// How long after a period started a node still running the previous configuration (a rolling
/// deploy) is treated as stale, its counts dropped, instead of starting yet another period.
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
    /// fingerprint is new. `None` when they belong to no period: a configuration older than the
    /// latest period's, seen within [`ROLLOUT_GRACE_MS`] of its start.
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
                let seen_before = periods.iter().any(|p| p.fingerprint == fingerprint);
                if seen_before && now_ms - last.started_at < ROLLOUT_GRACE_MS {
                    return Ok(None);
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
