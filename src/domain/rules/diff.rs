//! What changes for visitors between two rule sets (`personify diff OLD NEW`): segments added,
//! removed or redefined, slots whose mapping changed, and experiments whose arms, weights or
//! holdout changed. A change is *breaking* when it takes something away that reports and
//! integrations name (a segment, slot, variant or experiment) or moves visitors between the arms of
//! a running experiment, which invalidates its results so far.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{Action, RuleSet, Slot, Variant};

/// What kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new segment.
    SegmentAdded,
    /// A segment no longer defined.
    SegmentRemoved,
    /// A segment's condition, priority, sensitivity or taxonomy ids changed.
    SegmentChanged,
    /// A new slot.
    SlotAdded,
    /// A slot no longer defined.
    SlotRemoved,
    /// What a slot shows a segment (a variant or an experiment), or its default, changed.
    SlotMappingChanged,
    /// A variant of a slot no longer defined.
    VariantRemoved,
    /// A variant's content changed.
    VariantContentChanged,
    /// A new experiment.
    ExperimentAdded,
    /// An experiment no longer defined.
    ExperimentRemoved,
    /// An experiment's arms, weights or holdout changed: visitors move between arms.
    ExperimentRebucketed,
}

/// One change, with the id it concerns and what changed, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The kind.
    pub kind: ChangeKind,
    /// Segment, slot (`slot` or `slot/variant`) or experiment id.
    pub id: String,
    /// What changed.
    pub detail: String,
    /// Whether `--deny breaking` refuses it.
    pub breaking: bool,
}

fn change(kind: ChangeKind, id: impl Into<String>, detail: impl Into<String>) -> Change {
    let breaking = matches!(
        kind,
        ChangeKind::SegmentRemoved
            | ChangeKind::SlotRemoved
            | ChangeKind::VariantRemoved
            | ChangeKind::ExperimentRemoved
            | ChangeKind::ExperimentRebucketed
    );
    Change {
        kind,
        id: id.into(),
        detail: detail.into(),
        breaking,
    }
}

/// Every change from `old` to `new`, segments first, then slots, then experiments.
pub fn diff(old: &RuleSet, new: &RuleSet) -> Vec<Change> {
    let mut out = Vec::new();
    segments(old, new, &mut out);
    slots(old, new, &mut out);
    experiments(old, new, &mut out);
    out
}

/// A segment as compared: everything that decides who is in it and where it may go.
fn segment_facts(set: &RuleSet) -> BTreeMap<&str, String> {
    set.segments
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                format!(
                    "priority {}, sensitive {:?}, audience {:?}, content {:?}, when {:?}",
                    s.priority, s.sensitive, s.audience_taxonomy, s.content_taxonomy, s.when
                ),
            )
        })
        .collect()
}

fn segments(old: &RuleSet, new: &RuleSet, out: &mut Vec<Change>) {
    let (a, b) = (segment_facts(old), segment_facts(new));
    for (id, facts) in &a {
        match b.get(id) {
            None => out.push(change(ChangeKind::SegmentRemoved, *id, "no longer defined")),
            Some(f) if f != facts => out.push(change(
                ChangeKind::SegmentChanged,
                *id,
                "condition, priority, sensitivity or taxonomy ids changed",
            )),
            Some(_) => {}
        }
    }
    for id in b.keys().filter(|id| !a.contains_key(*id)) {
        out.push(change(ChangeKind::SegmentAdded, *id, "new segment"));
    }
}

/// What a slot shows each segment: `variant ID` or `experiment ID`.
fn mapping(set: &RuleSet, slot: &Slot) -> BTreeMap<String, String> {
    slot.rules
        .iter()
        .map(|r| {
            let what = match &r.action {
                Action::Variant(v) => format!("variant {}", slot.variants[*v].id),
                Action::Experiment(e) => format!("experiment {}", e.id),
            };
            (set.segments[r.segment].id.clone(), what)
        })
        .collect()
}

fn slots(old: &RuleSet, new: &RuleSet, out: &mut Vec<Change>) {
    for a in &old.slots {
        let Some(b) = new.slot(&a.id) else {
            out.push(change(ChangeKind::SlotRemoved, &a.id, "no longer defined"));
            continue;
        };
        let (da, db) = (&a.variants[a.default].id, &b.variants[b.default].id);
        if da != db {
            out.push(change(
                ChangeKind::SlotMappingChanged,
                &a.id,
                format!("default: {da} → {db}"),
            ));
        }
        let (ma, mb) = (mapping(old, a), mapping(new, b));
        for (segment, what) in &ma {
            let now = mb.get(segment).map_or("the default", String::as_str);
            if now != what {
                out.push(change(
                    ChangeKind::SlotMappingChanged,
                    &a.id,
                    format!("segment {segment}: {what} → {now}"),
                ));
            }
        }
        for (segment, what) in mb.iter().filter(|(s, _)| !ma.contains_key(*s)) {
            out.push(change(
                ChangeKind::SlotMappingChanged,
                &a.id,
                format!("segment {segment}: the default → {what}"),
            ));
        }
        // By id: a slot may have thousands of variants.
        let now: HashMap<&str, &Variant> = b.variants.iter().map(|w| (w.id.as_str(), w)).collect();
        for v in &a.variants {
            match now.get(v.id.as_str()) {
                None => out.push(change(
                    ChangeKind::VariantRemoved,
                    format!("{}/{}", a.id, v.id),
                    "no longer defined",
                )),
                Some(w) if w.content.get() != v.content.get() => out.push(change(
                    ChangeKind::VariantContentChanged,
                    format!("{}/{}", a.id, v.id),
                    "content changed",
                )),
                Some(_) => {}
            }
        }
    }
    for b in new.slots.iter().filter(|b| old.slot(&b.id).is_none()) {
        out.push(change(ChangeKind::SlotAdded, &b.id, "new slot"));
    }
}

/// An experiment's bucketing: holdout and arms with weights, as people read them.
fn bucketing(set: &RuleSet, id: &str) -> Option<String> {
    let e = set.experiment(id)?;
    let arms: Vec<String> = e
        .arm_labels()
        .zip(&e.experiment.arms)
        .map(|(label, arm)| format!("{label}:{}", arm.weight))
        .collect();
    Some(format!(
        "holdout {}%, arms [{}]",
        f64::from(e.experiment.holdout_bp) / 100.0,
        arms.join(", ")
    ))
}

fn experiments(old: &RuleSet, new: &RuleSet, out: &mut Vec<Change>) {
    for (_, _, e) in old.experiments() {
        match (bucketing(old, &e.id), bucketing(new, &e.id)) {
            (Some(_), None) => out.push(change(ChangeKind::ExperimentRemoved, &e.id, "no longer defined")),
            (Some(a), Some(b)) if a != b => out.push(change(
                ChangeKind::ExperimentRebucketed,
                &e.id,
                format!("{a} → {b}: MOVES VISITORS BETWEEN ARMS; results so far no longer compare"),
            )),
            _ => {}
        }
    }
    for (_, _, e) in new.experiments().filter(|(_, _, e)| old.experiment(&e.id).is_none()) {
        out.push(change(ChangeKind::ExperimentAdded, &e.id, "new experiment"));
    }
}
