//! Exact experiment units on the counting path: each exposure and conversion of a first-party
//! visitor adds the visitor's unit (`domain::counts::exact`) to its cell's set in the worker's
//! shard; a flush resolves each cell's analysis period and writes the new units. Cookieless
//! visitors are left out: their key changes every day, so one person would be a new unit daily.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use dashmap::DashMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::periods::Periods;
use super::{lock, Batch, Counts, FastMap};
use crate::domain::counts::exact::{UnitKey, UnitSet};
use crate::domain::privacy::{utc_day, ConsentSubject, Secret};
use crate::domain::rules::Experiment;
use crate::store::experiments::UnitRow;
use crate::store::StoreError;

/// One cell of units before its period is known: the arm's counting key (`experiment/arm`), the
/// experiment's fingerprint when counted, and the goal (`None` for an exposure).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnitCell {
    /// `experiment/arm`.
    pub arm_key: Arc<str>,
    /// The experiment's period fingerprint under the rules that counted it.
    pub fingerprint: Arc<str>,
    /// The goal converted on, or `None` for an exposure.
    pub goal: Option<Arc<str>>,
}

impl UnitCell {
    /// (experiment id, arm label), split from the counting key.
    fn parts(&self) -> (&str, &str) {
        self.arm_key.split_once('/').unwrap_or((&self.arm_key, ""))
    }
}

/// Units per cell.
pub type UnitDelta = HashMap<UnitCell, UnitSet>;

/// Merges `other` into `into`.
pub fn absorb(into: &mut UnitDelta, other: UnitDelta) {
    for (cell, set) in other {
        match into.get_mut(&cell) {
            Some(mine) => mine.merge(&set),
            None => {
                into.insert(cell, set);
            }
        }
    }
}

/// A shard's units. Exposures, counted on every decided page view, are keyed like the sketches:
/// by the `Arc` pointers of the arm's counting key and the fingerprint (the entry holds clones, so
/// neither pointer can be reused while it exists), with the experiment's key beside the set. A hit
/// then costs neither text hashing, nor refcount traffic, nor a key lookup. Conversions are rarer
/// and name a goal from the event, so they stay keyed by text.
#[derive(Debug, Default)]
pub(super) struct ShardUnits {
    exposures: FastMap<(usize, usize), Exposures>,
    conversions: UnitDelta,
}

#[derive(Debug)]
struct Exposures {
    cell: UnitCell,
    key: UnitKey,
    set: UnitSet,
}

impl ShardUnits {
    /// The shard's units keyed by text, ready to merge with other shards.
    pub(super) fn into_delta(self) -> UnitDelta {
        let mut delta = self.conversions;
        for (_, e) in self.exposures {
            match delta.get_mut(&e.cell) {
                Some(mine) => mine.merge(&e.set),
                None => {
                    delta.insert(e.cell, e.set);
                }
            }
        }
        delta
    }

    /// Removes a visitor's units (`unit_of` gives the unit in a conversion cell's experiment).
    fn forget(&mut self, visitor: &ConsentSubject, unit_of: impl Fn(&str) -> Option<u64>) {
        for e in self.exposures.values_mut() {
            e.set.remove(e.key.unit(visitor.as_bytes()));
        }
        forget(&mut self.conversions, unit_of);
    }
}

/// Removes the unit `unit_of` gives for each cell's experiment.
fn forget(delta: &mut UnitDelta, unit_of: impl Fn(&str) -> Option<u64>) {
    for (cell, set) in delta.iter_mut() {
        if let Some(unit) = unit_of(cell.parts().0) {
            set.remove(unit);
        }
    }
}

/// The per-experiment keys units are hashed under, derived from one stored secret.
#[derive(Default)]
pub struct UnitKeys {
    secret: arc_swap::ArcSwapOption<Secret>,
    keys: DashMap<String, UnitKey>,
}

impl UnitKeys {
    /// Installs the stored secret (until then nothing is counted exactly). Called once at start,
    /// before anything is counted: the shards keep the keys they were given.
    pub fn install(&self, secret: Secret) {
        self.secret.store(Some(Arc::new(secret)));
        self.keys.clear();
    }

    /// The key of `experiment`, or `None` before the secret is loaded.
    pub fn key(&self, experiment: &str) -> Option<UnitKey> {
        if let Some(k) = self.keys.get(experiment) {
            return Some(k.clone());
        }
        let secret = self.secret.load_full()?;
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose()) else {
            unreachable!("HMAC accepts keys of any length")
        };
        mac.update(b"personify experiment units v1\0");
        mac.update(experiment.as_bytes());
        let key = UnitKey::new(&mac.finalize().into_bytes().into());
        self.keys.insert(experiment.to_string(), key.clone());
        Some(key)
    }
}

impl Batch<'_> {
    /// Adds a first-party visitor's unit to an exposure (`goal = None`) or conversion cell;
    /// `visitor` is `None` for a cookieless visitor, who is not counted.
    pub fn unit(
        &mut self,
        keys: &UnitKeys,
        e: &Experiment,
        arm: Option<usize>,
        goal: Option<&str>,
        visitor: Option<&ConsentSubject>,
    ) {
        let Some(visitor) = visitor else {
            return;
        };
        let units = &mut self.0.units;
        let Some(goal) = goal else {
            let arm_key = e.count_key(arm);
            let ptr = (
                Arc::as_ptr(arm_key).cast::<u8>() as usize,
                Arc::as_ptr(&e.fingerprint).cast::<u8>() as usize,
            );
            let entry = match units.exposures.entry(ptr) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let Some(key) = keys.key(&e.id) else { return };
                    v.insert(Exposures {
                        cell: UnitCell {
                            arm_key: Arc::clone(arm_key),
                            fingerprint: Arc::clone(&e.fingerprint),
                            goal: None,
                        },
                        key,
                        set: UnitSet::new(),
                    })
                }
            };
            entry.set.insert(entry.key.unit(visitor.as_bytes()));
            return;
        };
        let Some(key) = keys.key(&e.id) else {
            return;
        };
        let cell = UnitCell {
            arm_key: Arc::clone(e.count_key(arm)),
            fingerprint: Arc::clone(&e.fingerprint),
            goal: Some(Arc::from(goal)),
        };
        units
            .conversions
            .entry(cell)
            .or_default()
            .insert(key.unit(visitor.as_bytes()));
    }
}

impl Counts {
    /// Loads (creating on first use) the secret experiment keys derive from.
    pub async fn load_unit_secret(&self) -> Result<(), StoreError> {
        let bytes = self
            .store
            .secret("experiment_units", *Secret::generate().expose())
            .await?;
        self.unit_keys.install(Secret::from_bytes(bytes));
        Ok(())
    }

    /// The keys units are hashed under.
    pub fn unit_keys(&self) -> &UnitKeys {
        &self.unit_keys
    }

    /// The analysis periods.
    pub fn periods(&self) -> &Periods {
        &self.periods
    }

    /// Rows for the units of a flush. Cells that belong to no period (a stale node's, during a
    /// rolling deploy) are dropped.
    pub(super) async fn unit_rows(&self, units: &UnitDelta) -> Result<Vec<UnitRow>, StoreError> {
        let now = SystemTime::now();
        let now_ms = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let day = utc_day(now);
        let mut rows = Vec::new();
        let mut resolved: HashMap<(&str, &str), Option<i64>> = HashMap::new();
        for (cell, set) in units {
            let (experiment, arm) = cell.parts();
            let period = match resolved.get(&(experiment, &*cell.fingerprint)) {
                Some(p) => *p,
                None => {
                    let p = self.periods.resolve(experiment, &cell.fingerprint, now_ms).await?;
                    resolved.insert((experiment, &*cell.fingerprint), p);
                    p
                }
            };
            let Some(period) = period else { continue };
            rows.extend(set.iter().map(|unit| UnitRow {
                experiment: experiment.to_string(),
                period,
                arm: arm.to_string(),
                goal: cell.goal.as_deref().map(str::to_string),
                unit,
                day,
            }));
        }
        Ok(rows)
    }

    /// Erases a visitor's units everywhere: in memory (so no flush writes them back) and in the
    /// store, in every experiment that ever had a period. Returns the rows deleted.
    pub async fn erase_units(&self, visitor: &ConsentSubject) -> Result<u64, StoreError> {
        // Under the flush lock: a flush that already took a shard must not write a unit back
        // after the store's rows are deleted.
        let _one = self.flushing.lock().await;
        let unit_of = |experiment: &str| self.unit_keys.key(experiment).map(|key| key.unit(visitor.as_bytes()));
        for shard in &self.shards {
            lock(shard).units.forget(visitor, unit_of);
        }
        forget(&mut lock(&self.pending).units, unit_of);
        let pairs: Vec<(String, u64)> = self
            .store
            .unit_experiments()
            .await?
            .into_iter()
            .filter_map(|e| unit_of(&e).map(|u| (e, u)))
            .collect();
        self.store.erase_units(&pairs).await
    }
}
