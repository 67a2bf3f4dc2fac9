//! Linking: resolve every reference between sections (rule → slot, segment, variant; slot
//! extensions → their slot), then compile slots, experiments and goals, and check the tone of what
//! sensitive segments receive.

use std::collections::{HashMap, HashSet};

use super::content::{RawVariant, ToneLists};
use super::diagnostic::{closest, ErrorKind, RuleError};
use super::read::Loc;
use super::sections::{Raw, RawAction, RawExperiment, RawSlot};
use crate::domain::rules::{render, Action, Arm, Experiment, Plan, Segment, Slot, SlotRule, Variant};

/// What linking produces.
pub(super) struct Linked {
    pub segments: Vec<Segment>,
    pub slots: Vec<Slot>,
    pub goals: Vec<String>,
}

/// A slot being assembled, with the texts and places of its variants for the tone check.
struct Building {
    slot: Slot,
    texts: Vec<Vec<(String, Loc)>>,
    /// Where each variant is defined, by index.
    variant_locs: Vec<Loc>,
    /// Variant id → index: rules name variants, and a slot may have thousands.
    positions: HashMap<String, usize>,
}

impl Raw {
    /// Resolves cross-references; `None` when any failed (errors are recorded).
    pub(super) fn link(self, tone: &ToneLists, errors: &mut Vec<RuleError>) -> Option<Linked> {
        let before = errors.len();
        let mut seen: HashMap<String, Loc> = HashMap::new();
        for (seg, loc) in &self.segments {
            if let Some(first) = seen.insert(seg.id.clone(), loc.clone()) {
                errors.push(loc.err(
                    ErrorKind::Duplicate,
                    format!("duplicate segment id `{}` (first defined at {})", seg.id, first.at()),
                ));
            }
        }
        let mut segments: Vec<Segment> = self.segments.into_iter().map(|(s, _)| s).collect();
        segments.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
        let seg_index: HashMap<&str, usize> = segments.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();

        let mut slots = build_slots(self.slots, errors);
        let slot_index: HashMap<String, usize> =
            slots.iter().enumerate().map(|(i, s)| (s.slot.id.clone(), i)).collect();
        let goals = link_goals(self.goals, errors);

        let mut experiment_ids: HashMap<String, Loc> = HashMap::new();
        let mut pairs: HashSet<(usize, usize)> = HashSet::new();
        let mut toned: HashSet<(usize, usize)> = HashSet::new();
        for rule in self.rules {
            let (slot_id, slot_loc) = &rule.slot;
            let (seg_id, seg_loc) = &rule.segment;
            let slot_i = slot_index.get(slot_id).copied();
            if slot_i.is_none() && !self.broken.contains(&format!("slot:{slot_id}")) {
                let mut e = slot_loc.err(ErrorKind::UnknownReference, format!("unknown slot `{slot_id}`"));
                e.suggestion = closest(
                    slot_id,
                    slot_index
                        .keys()
                        .map(String::as_str)
                        .chain(broken_ids(&self.broken, "slot")),
                );
                errors.push(e);
            }
            let seg_i = seg_index.get(seg_id.as_str()).copied();
            if seg_i.is_none() && !self.broken.contains(&format!("segment:{seg_id}")) {
                let mut e = seg_loc.err(ErrorKind::UnknownReference, format!("unknown segment `{seg_id}`"));
                e.suggestion = closest(
                    seg_id,
                    seg_index.keys().copied().chain(broken_ids(&self.broken, "segment")),
                );
                errors.push(e);
            }
            let Some(slot_i) = slot_i else {
                continue;
            };
            // Variants and experiments are checked even when the segment is broken or unknown.
            if seg_i.is_some_and(|seg_i| !pairs.insert((slot_i, seg_i))) {
                errors.push(seg_loc.err(
                    ErrorKind::Duplicate,
                    format!("slot `{slot_id}` already has a rule for segment `{seg_id}`"),
                ));
                continue;
            }
            let building = &slots[slot_i];
            let action = match rule.action {
                RawAction::Variant(v, loc) => variant_index(building, &v, &loc, errors).map(Action::Variant),
                RawAction::Experiment(raw) => {
                    if let Some(first) = experiment_ids.insert(raw.id.clone(), raw.loc.clone()) {
                        errors.push(raw.loc.err(
                            ErrorKind::Duplicate,
                            format!("duplicate experiment id `{}` (first defined at {})", raw.id, first.at()),
                        ));
                    }
                    experiment(building, raw, &goals, errors).map(Action::Experiment)
                }
            };
            let (Some(action), Some(segment)) = (action, seg_i) else {
                continue;
            };
            if let Some(category) = &segments[segment].sensitive {
                for v in receivable(&building.slot, &action) {
                    if toned.insert((slot_i, v)) {
                        check_tone(building, v, &segments[segment].id, category, tone, errors);
                    }
                }
            }
            slots[slot_i].slot.rules.push(SlotRule { segment, action });
        }
        let mut slots: Vec<Slot> = slots.into_iter().map(|b| b.slot).collect();
        for slot in &mut slots {
            slot.rules.sort_by_key(|r| r.segment);
        }
        slots.sort_by(|a, b| a.id.cmp(&b.id));
        (errors.len() == before).then_some(Linked { segments, slots, goals })
    }
}

/// Ids of sections of `kind` that had errors: still worth suggesting for a misspelt reference.
fn broken_ids<'a>(broken: &'a HashSet<String>, kind: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    broken
        .iter()
        .filter_map(move |b| b.strip_prefix(kind)?.strip_prefix(':'))
}

/// Merges each slot's defining `[[slot]]` (the one with `default`) with the ones adding variants.
fn build_slots(raw: Vec<RawSlot>, errors: &mut Vec<RuleError>) -> Vec<Building> {
    let mut order: Vec<String> = Vec::new();
    let mut by_id: HashMap<String, Vec<RawSlot>> = HashMap::new();
    for slot in raw {
        if !by_id.contains_key(&slot.id) {
            order.push(slot.id.clone());
        }
        by_id.entry(slot.id.clone()).or_default().push(slot);
    }
    let mut out = Vec::new();
    for id in order {
        let parts = by_id.remove(&id).unwrap_or_default();
        let mut bases = parts.iter().filter(|p| p.default.is_some());
        let base = bases.next();
        for extra in bases {
            if let Some(first) = base {
                errors.push(extra.loc.err(
                    ErrorKind::Duplicate,
                    format!(
                        "duplicate slot id `{id}` (first defined at {}); a [[slot]] without `default` adds variants",
                        first.loc.at()
                    ),
                ));
            }
        }
        let Some(base) = base else {
            if let Some(first) = parts.first() {
                errors.push(first.loc.err(
                    ErrorKind::MissingKey,
                    format!("missing `default`: slot `{id}` has no [[slot]] with a `default` variant in any file"),
                ));
            }
            continue;
        };
        let description = base.description.clone().unwrap_or_default();
        let default_ref = base.default.clone();
        let mut variants: Vec<RawVariant> = Vec::new();
        let mut positions: HashMap<String, usize> = HashMap::new();
        // The defining table's variants first, then the additions in file order.
        let (bases, extras): (Vec<RawSlot>, Vec<RawSlot>) = parts.into_iter().partition(|p| p.default.is_some());
        for part in bases.into_iter().take(1).chain(extras) {
            for v in part.variants {
                if let Some(&first) = positions.get(&v.id) {
                    errors.push(v.loc.err(
                        ErrorKind::Duplicate,
                        format!(
                            "duplicate variant id `{}` in slot `{id}` (first defined at {})",
                            v.id,
                            variants[first].loc.at()
                        ),
                    ));
                    continue;
                }
                positions.insert(v.id.clone(), variants.len());
                variants.push(v);
            }
        }
        let default = default_ref.and_then(|(d, loc)| {
            let found = positions.get(&d).copied();
            if found.is_none() {
                let mut e = loc.err(
                    ErrorKind::UnknownReference,
                    format!("default variant `{d}` is not a variant of slot `{id}`"),
                );
                e.suggestion = closest(&d, variants.iter().map(|v| v.id.as_str()));
                errors.push(e);
            }
            found
        });
        let texts = variants.iter_mut().map(|v| std::mem::take(&mut v.texts)).collect();
        let variant_locs = variants.iter().map(|v| v.loc.clone()).collect();
        out.push(Building {
            slot: Slot {
                id,
                description,
                default: default.unwrap_or(0),
                variants: variants.into_iter().map(|v| Variant::new(v.id, v.content)).collect(),
                rules: Vec::new(),
            },
            texts,
            variant_locs,
            positions,
        });
    }
    out
}

/// Goal ids declared with `[[goal]]`, each once.
fn link_goals(raw: Vec<(String, Loc)>, errors: &mut Vec<RuleError>) -> Vec<String> {
    let mut seen: HashMap<&str, &Loc> = HashMap::new();
    for (id, loc) in &raw {
        if let Some(first) = seen.insert(id, loc) {
            errors.push(loc.err(
                ErrorKind::Duplicate,
                format!("duplicate goal id `{id}` (first defined at {})", first.at()),
            ));
        }
    }
    let mut goals: Vec<String> = raw.into_iter().map(|(id, _)| id).collect();
    goals.sort();
    goals.dedup();
    goals
}

fn variant_index(b: &Building, name: &str, loc: &Loc, errors: &mut Vec<RuleError>) -> Option<usize> {
    let slot = &b.slot;
    let i = b.positions.get(name).copied();
    if i.is_none() {
        let mut e = loc.err(
            ErrorKind::UnknownReference,
            format!("unknown variant `{name}` in slot `{}`", slot.id),
        );
        e.suggestion = closest(name, slot.variants.iter().map(|v| v.id.as_str()));
        errors.push(e);
    }
    i
}

fn experiment(
    b: &Building,
    raw: RawExperiment,
    global_goals: &[String],
    errors: &mut Vec<RuleError>,
) -> Option<Experiment> {
    let slot = &b.slot;
    let id = raw.id;
    let primary_goal = raw.plan.primary_goal.map(|(goal, loc)| {
        let declared = raw.goals.iter().any(|(g, _)| *g == goal) || global_goals.contains(&goal);
        if !declared {
            let mut e = loc.err(
                ErrorKind::UnknownReference,
                format!("`primary_goal` `{goal}` is not a goal of experiment `{id}` nor a `[[goal]]`"),
            );
            e.suggestion = closest(
                &goal,
                raw.goals
                    .iter()
                    .map(|(g, _)| g.as_str())
                    .chain(global_goals.iter().map(String::as_str)),
            );
            errors.push(e);
        }
        goal
    });
    let total: u32 = raw.arms.iter().map(|a| a.2).sum();
    if total != 100 {
        errors.push(raw.arms_loc.err(
            ErrorKind::Weights,
            format!("arm weights of experiment `{id}` sum to {total}, not 100"),
        ));
    }
    let mut names = HashSet::new();
    let mut arms = Vec::new();
    for (v, loc, weight) in &raw.arms {
        if !names.insert(v.as_str()) {
            errors.push(loc.err(
                ErrorKind::Duplicate,
                format!("variant `{v}` appears twice in experiment `{id}`"),
            ));
        }
        if let Some(variant) = variant_index(b, v, loc, errors) {
            arms.push(Arm {
                variant,
                weight: *weight,
            });
        }
    }
    let mut goals: Vec<String> = Vec::new();
    let mut declared = HashSet::new();
    for (goal, loc) in raw.goals {
        if !declared.insert(goal.clone()) {
            errors.push(loc.err(
                ErrorKind::Duplicate,
                format!("goal `{goal}` appears twice in experiment `{id}`"),
            ));
        } else {
            goals.push(goal);
        }
    }
    if arms.len() != raw.arms.len() {
        return None;
    }
    let default = &slot.variants[slot.default];
    let rendered = arms
        .iter()
        .map(|a| {
            let v = &slot.variants[a.variant];
            render(&v.id, &v.content, Some((&id, &v.id)))
        })
        .chain(std::iter::once(render(
            &default.id,
            &default.content,
            Some((&id, "holdout")),
        )))
        .collect();
    Some(Experiment {
        rendered,
        arm_keys: arms
            .iter()
            .map(|a| format!("{id}/{}", slot.variants[a.variant].id).into())
            .collect(),
        holdout_key: format!("{id}/holdout").into(),
        holdout_bp: raw.holdout_percent * 100,
        arms,
        goals,
        plan: Box::new(Plan {
            primary_goal,
            baseline_rate: raw.plan.baseline_rate,
            minimum_detectable_effect: raw.plan.minimum_detectable_effect,
        }),
        // Filled in when the set is built, where the segment's condition is known.
        fingerprint: std::sync::Arc::from(""),
        id,
    })
}

/// The variants a segment's visitors can receive through one action (an experiment's holdout
/// receives the slot default).
fn receivable(slot: &Slot, action: &Action) -> Vec<usize> {
    match action {
        Action::Variant(v) => vec![*v],
        Action::Experiment(e) => e
            .arms
            .iter()
            .map(|a| a.variant)
            .chain((e.holdout_bp > 0).then_some(slot.default))
            .collect(),
    }
}

/// Reports each text of variant `v` that celebrates or sells, at the text.
fn check_tone(b: &Building, v: usize, segment: &str, category: &str, tone: &ToneLists, errors: &mut Vec<RuleError>) {
    let variant = &b.slot.variants[v].id;
    let Some(texts) = b.texts.get(v) else { return };
    for (text, loc) in texts {
        if let Some((does, phrase)) = tone.find(text) {
            let mapped = b.variant_locs.get(v).map(Loc::at).unwrap_or_default();
            errors.push(loc.err(
                ErrorKind::Tone,
                format!(
                    "variant `{variant}` ({mapped}) of slot `{}` is shown to the sensitive segment `{segment}` ({category}) but its content {does}: {phrase:?}",
                    b.slot.id
                ),
            ));
        }
    }
}
