//! Released numbers (`docs/reports.md`): every number a report shows is a *cell* — a metric of a
//! segment or an experiment arm, for a goal, over a period — computed once, stored, and returned
//! unchanged by every later query on every node. Closed UTC days and ISO weeks are released once;
//! an experiment's analysis period so far is released again only when its support has grown by k.
//! Noise is a keyed function of the cell (its key in the store), never a fresh draw per query.

pub mod experiment;
pub mod segments;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::domain::counts::release::NoiseKey;
use crate::domain::experiments::{Adjustment, Method};
use crate::domain::privacy::Secret;
use crate::engine::counter::Counts;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// What reports are released under.
#[derive(Debug, Clone, Copy)]
pub struct ReleasePolicy {
    /// Minimum distinct visitors and networks behind a released number.
    pub k: u64,
    /// Discrete Laplace budget per released count (0: none).
    pub epsilon: f64,
    /// The default test of experiment reports.
    pub method: Method,
    /// The adjustment over arms × goals.
    pub adjustment: Adjustment,
    /// Error rate of intervals and tests.
    pub alpha: f64,
    /// How long after the end of a UTC day its counts may still arrive (flushes of every node).
    pub grace_seconds: u64,
}

/// Computes and keeps released cells.
pub struct Reports {
    store: Arc<dyn Store>,
    counts: Arc<Counts>,
    noise: NoiseKey,
    policy: ReleasePolicy,
    metrics: Option<Arc<Metrics>>,
}

/// Unix milliseconds of `t`.
pub(crate) fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Reports {
    /// Loads (creating on first use) the noise key every node shares.
    pub async fn start(
        store: Arc<dyn Store>,
        counts: Arc<Counts>,
        policy: ReleasePolicy,
    ) -> Result<Reports, StoreError> {
        let noise = store.secret("release_noise", *Secret::generate().expose()).await?;
        Ok(Reports {
            store,
            counts,
            noise: NoiseKey::from_bytes(noise),
            policy,
            metrics: None,
        })
    }

    /// Sets the experiments gauge in `metrics` whenever SRM is looked at.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Reports {
        self.metrics = Some(metrics);
        self
    }

    /// The release policy.
    pub fn policy(&self) -> &ReleasePolicy {
        &self.policy
    }

    /// Deletes released cells of days, weeks and periods released before `before_ms` (retention).
    pub async fn purge_before(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(self.store.purge_releases(segments::PREFIX, before_ms).await?
            + self.store.purge_releases(experiment::PREFIX, before_ms).await?)
    }
}

/// Looks at every experiment's current period every `every_seconds` (its cells are released as
/// they cross k, and the SRM gauge follows), and purges released cells past retention.
pub async fn look_task(
    reports: Arc<Reports>,
    rules: Arc<arc_swap::ArcSwap<crate::domain::rules::RuleSet>>,
    metrics: Arc<Metrics>,
    every_seconds: u64,
    retention_days: u32,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(every_seconds));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = SystemTime::now();
        if let Err(e) = reports.look_at_srm(&rules.load(), now).await {
            metrics.store_error("experiments");
            tracing::warn!(error = %e, "experiment look failed; will retry");
        }
        let cutoff = millis(now) - i64::from(retention_days) * 86_400_000;
        if let Err(e) = reports.purge_before(cutoff).await {
            metrics.store_error("purge");
            metrics.purge_failed("releases");
            tracing::warn!(error = %e, "retention purge of released cells failed; will retry");
        }
    }
}
