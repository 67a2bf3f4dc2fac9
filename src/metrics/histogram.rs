//! A latency histogram whose `observe` is a few relaxed atomic adds: prometheus-client's own
//! histogram takes a mutex per observation, which would put a lock on the decision path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds in seconds: 50 µs to 1 s, dense where a decision's latency lives.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 0.25, 1.0,
];

#[derive(Debug, Default)]
struct Inner {
    /// Per bucket, not cumulative (cumulated when encoded); the last slot is +Inf.
    counts: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Sum of observations in nanoseconds (integer, so adds are exact and lock-free).
    sum_nanos: AtomicU64,
}

/// A shared handle; clones observe into the same buckets.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram {
    inner: Arc<Inner>,
}

impl LatencyHistogram {
    /// Records one duration.
    pub fn observe(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.inner.counts[i].fetch_add(1, Ordering::Relaxed);
        self.inner
            .sum_nanos
            .fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// (count, sum in seconds, cumulative buckets) as a scrape sees them.
    pub fn snapshot(&self) -> (u64, f64, Vec<(f64, u64)>) {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(LATENCY_BUCKETS.len() + 1);
        for (i, c) in self.inner.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            buckets.push((LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::MAX), cumulative));
        }
        let sum = self.inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        (cumulative, sum, buckets)
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (count, sum, mut buckets) = self.snapshot();
        // The encoder writes the last bound as +Inf.
        if let Some(last) = buckets.last_mut() {
            last.0 = f64::MAX;
        }
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn observations_land_in_cumulative_buckets() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(30));
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_secs(5));
        let (count, sum, buckets) = h.snapshot();
        assert_eq!(count, 3);
        assert!((sum - 5.00033).abs() < 1e-9);
        assert_eq!(buckets[0], (0.000_05, 1));
        assert_eq!(buckets[3], (0.000_5, 2));
        assert_eq!(buckets.last().map(|b| b.1), Some(3));
    }
}
