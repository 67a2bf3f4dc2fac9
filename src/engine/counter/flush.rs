//! The counter's background task: flush, RTB release set, retention.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Counts;
use crate::domain::privacy::utc_day;
use crate::metrics::Metrics;

/// Flushes sketches every `flush_seconds`; refreshes the RTB release set every
/// `release_refresh_seconds` and purges days past retention at the same pace.
pub async fn run(
    counts: Arc<Counts>,
    metrics: Arc<Metrics>,
    flush_seconds: u64,
    refresh_seconds: u64,
    retention_days: u32,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(flush_seconds));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_refresh: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        if let Err(e) = counts.flush().await {
            metrics.store_error("flush");
            tracing::warn!(error = %e, "sketch flush failed; counts stay in memory until the next flush");
        }
        if last_refresh.is_none_or(|t| t.elapsed() >= Duration::from_secs(refresh_seconds)) {
            last_refresh = Some(std::time::Instant::now());
            let today = utc_day(SystemTime::now());
            if let Err(e) = counts.refresh_release_set(today).await {
                metrics.store_error("release_refresh");
                tracing::warn!(error = %e, "RTB release set refresh failed; keeping the previous one");
            }
            match counts.purge_before(today - i64::from(retention_days)).await {
                Ok(0) => {}
                Ok(rows) => tracing::info!(rows, "aggregates past retention deleted"),
                Err(e) => {
                    metrics.store_error("purge");
                    metrics.purge_failed("aggregates");
                    tracing::warn!(error = %e, "retention purge failed; will retry");
                }
            }
        }
    }
}
