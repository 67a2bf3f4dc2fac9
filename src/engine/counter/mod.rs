//! Aggregate counting: distinct visitors per (segment, day) and per (experiment arm, day), view
//! counters, and conversions — HyperLogLog sketches and integers only, never a key.
//!
//! Every distinct count has a twin counting distinct network keys (see [`crate::domain::privacy::network`]):
//! a count is released only when both reach k, so one client inventing visitor ids cannot cross it.
//!
//! The hot path writes into one of several shards picked per thread, so workers never contend on a
//! global lock; the flusher drains the shards every `counts.flush_seconds` and merges the deltas into
//! the store. A failed flush keeps the deltas in memory for the next one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;

pub mod flush;
pub mod periods;
mod record;
pub mod units;

use crate::domain::counts::Kind;
use crate::domain::counts::{report, sketch, Seen, Sketch};

use crate::domain::privacy::network::{week_of_day, NetworkKey, NetworkKeys};
use crate::domain::privacy::{utc_day, Secret};
use crate::metrics::Metrics;
use crate::store::{CounterRow, SketchRow, Store, StoreError};
use periods::Periods;

/// Identifies one sketch or counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountKey {
    /// What it measures.
    pub kind: Kind,
    /// Segment id, `experiment/arm`, …
    pub key: Arc<str>,
    /// UTC day.
    pub day: i64,
}

/// Shard maps hash keys with the fast deterministic mixer: keys are short and not attacker-chosen
/// beyond ids in the rules.
type FastMap<K, V> = HashMap<K, V, sketch::Mix64>;

/// A hot-path key: the id's `Arc` pointer instead of its text, so a hit costs no atomic refcount
/// traffic. The entry holds a clone of the `Arc`, so the pointer cannot be reused while it exists.
type PtrKey = (Kind, usize, i64);

/// What one worker counted since the last flush.
#[derive(Debug, Default)]
struct Shard {
    sketches: FastMap<PtrKey, (Arc<str>, Sketch)>,
    counters: FastMap<PtrKey, (Arc<str>, u64)>,
    units: units::ShardUnits,
}

impl Shard {
    /// The shard's content keyed by text, ready to merge with other shards.
    fn into_delta(self) -> Delta {
        let mut d = Delta::default();
        for ((kind, _, day), (key, sketch)) in self.sketches {
            match d.sketches.entry(CountKey { kind, key, day }) {
                std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().merge(&sketch),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(sketch);
                }
            }
        }
        for ((kind, _, day), (key, n)) in self.counters {
            *d.counters.entry(CountKey { kind, key, day }).or_default() += n;
        }
        d.units = self.units.into_delta();
        d
    }
}

/// Counts keyed by text: merged shards, and deltas waiting for a successful flush.
#[derive(Debug, Default)]
struct Delta {
    sketches: HashMap<CountKey, Sketch>,
    counters: HashMap<CountKey, u64>,
    units: units::UnitDelta,
}

impl Delta {
    fn absorb(&mut self, other: Delta) {
        for (k, s) in other.sketches {
            match self.sketches.get_mut(&k) {
                Some(mine) => mine.merge(&s),
                None => {
                    self.sketches.insert(k, s);
                }
            }
        }
        for (k, n) in other.counters {
            *self.counters.entry(k).or_default() += n;
        }
        units::absorb(&mut self.units, other.units);
    }

    fn is_empty(&self) -> bool {
        self.sketches.is_empty() && self.counters.is_empty() && self.units.is_empty()
    }
}

/// Shards: enough that each worker thread usually has its own.
const SHARDS: usize = 16;

thread_local! {
    static SHARD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
    };
}

/// The node's counting state.
pub struct Counts {
    shards: Vec<Mutex<Shard>>,
    /// Deltas whose flush failed, retried at the next flush.
    pending: Mutex<Delta>,
    /// Serialises flushes (the timer, reports and shutdown may ask at once).
    flushing: tokio::sync::Mutex<()>,
    store: Arc<dyn Store>,
    node: String,
    /// Each segment's rolling 7-day distinct visitors and networks, for RTB.
    release: ArcSwap<HashMap<String, Seen>>,
    /// Weekly salts for network keys.
    networks: NetworkKeys,
    /// Where flushes are counted and timed, when the server runs.
    metrics: Option<Arc<Metrics>>,
    /// The keys experiment units are hashed under.
    unit_keys: units::UnitKeys,
    /// Analysis periods, resolved when units are flushed.
    periods: Periods,
}

/// What one flush wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Sketch rows written.
    pub sketches: usize,
    /// Counter rows written.
    pub counters: usize,
    /// Experiment unit rows written (units already stored are among them).
    pub units: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a shard cannot leave it half-written in a way that matters for counts.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Counts {
    /// Counting state for `node` (its rows in a shared store are its own).
    pub fn new(store: Arc<dyn Store>, node: String) -> Counts {
        Counts {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            pending: Mutex::new(Delta::default()),
            flushing: tokio::sync::Mutex::new(()),
            periods: Periods::new(Arc::clone(&store)),
            unit_keys: units::UnitKeys::default(),
            store,
            node,
            release: ArcSwap::from_pointee(HashMap::new()),
            networks: NetworkKeys::default(),
            metrics: None,
        }
    }

    /// Counts and times every flush in `metrics` (`personify_sketch_flushes`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Counts {
        self.metrics = Some(metrics);
        self
    }

    /// Loads this week's and next week's shared network salts (creating them if needed) and deletes
    /// those of past weeks, so a past week's keys can no longer be recomputed.
    pub async fn refresh_network_salts(&self, now: SystemTime) -> Result<(), StoreError> {
        let week = week_of_day(utc_day(now));
        let deleted = match self.store.purge_network_salts_before(week).await {
            Ok(n) => n,
            Err(e) => {
                if let Some(m) = &self.metrics {
                    m.purge_failed("network_salts");
                }
                return Err(e);
            }
        };
        if deleted > 0 {
            tracing::info!(deleted, "past weeks' network salts deleted");
        }
        let mut weeks = Vec::with_capacity(2);
        for w in [week, week + 1] {
            let salt = self.store.network_salt(w, *Secret::generate().expose()).await?;
            weeks.push((w, Secret::from_bytes(salt)));
        }
        self.networks.install(weeks);
        Ok(())
    }

    /// The network key of a client address (`None` without one, or before the salts are loaded).
    pub fn network_key(&self, addr: Option<IpAddr>, now: SystemTime) -> Option<NetworkKey> {
        self.networks.key(addr, now)
    }

    /// This thread's shard, locked once for all the counts of one request.
    pub fn batch(&self) -> Batch<'_> {
        let i = SHARD.with(|s| *s);
        Batch(lock(&self.shards[i]))
    }

    /// Adds a visitor key to a distinct-count sketch.
    pub fn distinct(&self, kind: Kind, key: &Arc<str>, day: i64, visitor: &[u8; 32]) {
        self.batch().distinct(kind, key, day, visitor);
    }

    /// Adds a visitor key, and its network key when known, to a distinct count and its network twin.
    pub fn seen(&self, kind: Kind, key: &Arc<str>, day: i64, visitor: &[u8; 32], network: Option<&NetworkKey>) {
        self.batch().seen(kind, key, day, visitor, network);
    }

    /// Adds to a counter.
    pub fn add(&self, kind: Kind, key: &Arc<str>, day: i64, n: u64) {
        self.batch().add(kind, key, day, n);
    }

    /// Merges everything counted so far into the store. On failure the deltas stay in memory.
    pub async fn flush(&self) -> Result<FlushStats, StoreError> {
        let _one = self.flushing.lock().await;
        let started = std::time::Instant::now();
        let result = self.flush_locked().await;
        if let Some(m) = &self.metrics {
            m.flushed(result.is_ok(), started.elapsed());
        }
        result
    }

    /// The flush itself, under the flush lock.
    async fn flush_locked(&self) -> Result<FlushStats, StoreError> {
        let mut delta = std::mem::take(&mut *lock(&self.pending));
        for shard in &self.shards {
            let taken = std::mem::take(&mut *lock(shard));
            delta.absorb(taken.into_delta());
        }
        if delta.is_empty() {
            return Ok(FlushStats::default());
        }
        match self.write(&delta).await {
            Ok(stats) => Ok(stats),
            Err(e) => {
                lock(&self.pending).absorb(delta);
                Err(e)
            }
        }
    }

    async fn write(&self, delta: &Delta) -> Result<FlushStats, StoreError> {
        // Units first: writing them again after a failure below changes nothing.
        let unit_rows = self.unit_rows(&delta.units).await?;
        let units = unit_rows.len();
        self.store.put_units(unit_rows).await?;
        let mut rows = Vec::with_capacity(delta.sketches.len());
        for (k, s) in &delta.sketches {
            let mut merged = s.clone();
            if let Some(blob) = self.store.sketch(k.kind, &k.key, k.day, &self.node).await? {
                match Sketch::from_envelope(&blob) {
                    Ok(old) => merged.merge(&old),
                    // A corrupt stored row cannot be merged into; it is replaced and the loss logged.
                    Err(e) => {
                        tracing::error!(kind = k.kind.as_str(), day = k.day, error = %e, "stored sketch rejected; replacing it")
                    }
                }
            }
            rows.push(SketchRow {
                kind: k.kind,
                key: k.key.to_string(),
                day: k.day,
                node: self.node.clone(),
                blob: merged.to_envelope(),
            });
        }
        let counters: Vec<CounterRow> = delta
            .counters
            .iter()
            .map(|(k, n)| CounterRow {
                kind: k.kind,
                key: k.key.to_string(),
                day: k.day,
                node: self.node.clone(),
                value: i64::try_from(*n).unwrap_or(i64::MAX),
            })
            .collect();
        let stats = FlushStats {
            sketches: rows.len(),
            counters: counters.len(),
            units,
        };
        self.store.put_counts(rows, counters).await?;
        Ok(stats)
    }

    /// Distinct estimate of the union of a key's sketches over days `from..=to`, across every node.
    pub async fn union(&self, kind: Kind, key: &str, from: i64, to: i64) -> Result<Option<f64>, StoreError> {
        let blobs = self.store.sketches(kind, Some(key), from, to).await?;
        Ok(union_of(blobs.into_iter().map(|r| r.blob)))
    }

    /// Distinct estimates of every key of `kind` over days `from..=to` (HLL unions, never sums).
    pub async fn unions(&self, kind: Kind, from: i64, to: i64) -> Result<HashMap<String, f64>, StoreError> {
        let rows = self.store.sketches(kind, None, from, to).await?;
        let mut by_key: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        for r in rows {
            by_key.entry(r.key).or_default().push(r.blob);
        }
        Ok(by_key
            .into_iter()
            .filter_map(|(k, blobs)| union_of(blobs.into_iter()).map(|c| (k, c)))
            .collect())
    }

    /// Distinct estimates over days `from..=to`, grouping keys of `kind` by `group` (keys it maps to
    /// `None` are left out): e.g. every goal of an arm into one union.
    pub async fn unions_by(
        &self,
        kind: Kind,
        from: i64,
        to: i64,
        group: impl Fn(&str) -> Option<String>,
    ) -> Result<HashMap<String, f64>, StoreError> {
        let rows = self.store.sketches(kind, None, from, to).await?;
        let mut by_group: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        for r in rows {
            if let Some(g) = group(&r.key) {
                by_group.entry(g).or_default().push(r.blob);
            }
        }
        Ok(by_group
            .into_iter()
            .filter_map(|(k, blobs)| union_of(blobs.into_iter()).map(|c| (k, c)))
            .collect())
    }

    /// Distinct networks behind every key of a distinct-visitor `kind` over days `from..=to`, grouped
    /// like [`Counts::unions_by`]. Network keys are salted per ISO week, so the union of one week's
    /// sketches is a true count but a union across weeks would count one network once per week: the
    /// result is the largest single-week count, which never exceeds the true number of networks.
    pub async fn network_unions_by(
        &self,
        kind: Kind,
        from: i64,
        to: i64,
        group: impl Fn(&str) -> Option<String>,
    ) -> Result<HashMap<String, f64>, StoreError> {
        let Some(net) = kind.networks() else {
            return Ok(HashMap::new());
        };
        let rows = self.store.sketches(net, None, from, to).await?;
        let mut by_week: HashMap<(String, i64), Vec<Vec<u8>>> = HashMap::new();
        for r in rows {
            if let Some(g) = group(&r.key) {
                by_week.entry((g, week_of_day(r.day))).or_default().push(r.blob);
            }
        }
        let mut out: HashMap<String, f64> = HashMap::new();
        for ((g, _), blobs) in by_week {
            if let Some(c) = union_of(blobs.into_iter()) {
                let best = out.entry(g).or_insert(0.0);
                *best = best.max(c);
            }
        }
        Ok(out)
    }

    /// Distinct visitors and networks of every key of `kind` over days `from..=to`.
    pub async fn seen_by(
        &self,
        kind: Kind,
        from: i64,
        to: i64,
        group: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<HashMap<String, Seen>, StoreError> {
        let visitors = self.unions_by(kind, from, to, group).await?;
        let networks = self.network_unions_by(kind, from, to, group).await?;
        Ok(visitors
            .into_iter()
            .map(|(k, v)| {
                let n = networks.get(&k).copied().unwrap_or(0.0);
                (
                    k,
                    Seen {
                        visitors: v,
                        networks: n,
                    },
                )
            })
            .collect())
    }

    /// Sums of every counter of `kind` over days `from..=to`.
    pub async fn sums(&self, kind: Kind, from: i64, to: i64) -> Result<HashMap<String, i64>, StoreError> {
        self.store.counter_sums(kind, from, to).await
    }

    /// Recomputes the RTB release set: each segment's rolling 7-day distinct visitors and networks.
    /// The network salts are refreshed at the same pace (past weeks' deleted, next week's created).
    pub async fn refresh_release_set(&self, today: i64) -> Result<(), StoreError> {
        self.refresh_network_salts(SystemTime::now()).await?;
        let set = self
            .seen_by(Kind::Segment, today - 6, today, |k| Some(k.to_string()))
            .await?;
        self.release.store(Arc::new(set));
        Ok(())
    }

    /// How many segments the release set currently holds at or above k (for the metrics gauge).
    pub fn released_segments(&self, k: u64) -> usize {
        self.release
            .load()
            .values()
            .filter(|seen| report::k_anonymous(k, **seen))
            .count()
    }

    /// The rolling 7-day distinct visitors and networks of a segment, from the last refresh (zero
    /// when unknown).
    pub fn rolling_uniques(&self, segment: &str) -> Seen {
        self.release.load().get(segment).copied().unwrap_or_default()
    }

    /// Deletes rows of days before `day`: sketches, counters, and experiment units first counted
    /// then.
    pub async fn purge_before(&self, day: i64) -> Result<u64, StoreError> {
        Ok(self.store.purge_counts_before(day).await? + self.store.purge_units_before(day).await?)
    }
}

/// The counts of one request, written under one shard lock.
pub struct Batch<'a>(std::sync::MutexGuard<'a, Shard>);

impl Batch<'_> {
    /// Adds a visitor key to a distinct-count sketch.
    pub fn distinct(&mut self, kind: Kind, key: &Arc<str>, day: i64, visitor: &[u8; 32]) {
        let ptr: PtrKey = (kind, Arc::as_ptr(key).cast::<u8>() as usize, day);
        match self.0.sketches.get_mut(&ptr) {
            Some((_, sketch)) => sketch.insert(visitor),
            None => {
                let mut sketch = Sketch::new();
                sketch.insert(visitor);
                self.0.sketches.insert(ptr, (Arc::clone(key), sketch));
            }
        }
    }

    /// Adds a visitor key, and its network key when known, to a distinct count and its network twin.
    pub fn seen(&mut self, kind: Kind, key: &Arc<str>, day: i64, visitor: &[u8; 32], network: Option<&NetworkKey>) {
        self.distinct(kind, key, day, visitor);
        if let (Some(net), Some(n)) = (kind.networks(), network) {
            self.distinct(net, key, day, n.as_bytes());
        }
    }

    /// Adds to a counter.
    pub fn add(&mut self, kind: Kind, key: &Arc<str>, day: i64, n: u64) {
        let ptr: PtrKey = (kind, Arc::as_ptr(key).cast::<u8>() as usize, day);
        match self.0.counters.get_mut(&ptr) {
            Some((_, count)) => *count += n,
            None => {
                self.0.counters.insert(ptr, (Arc::clone(key), n));
            }
        }
    }
}

/// Union of envelopes; corrupt ones are skipped with an error log. `None` when nothing decodes.
fn union_of(blobs: impl Iterator<Item = Vec<u8>>) -> Option<f64> {
    let mut acc: Option<Sketch> = None;
    for blob in blobs {
        match Sketch::from_envelope(&blob) {
            Ok(s) => match acc.as_mut() {
                Some(a) => a.merge(&s),
                None => acc = Some(s),
            },
            Err(e) => tracing::error!(error = %e, "stored sketch rejected in a report"),
        }
    }
    acc.map(|mut s| s.count())
}
