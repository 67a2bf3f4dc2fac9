//! Segment rules: the declarative `segment_rules/*.toml` files, validated and compiled into an
//! immutable [`RuleSet`] that decisions read without locks.

pub mod condition;
pub mod diff;
pub mod generate;
pub mod index;
pub mod load;
pub mod period;

use std::collections::HashMap;

use serde_json::value::RawValue;

pub use condition::Condition;
pub use index::SegmentIndex;
pub use load::{load_dir, load_dir_with, LoadErrors, LoadOptions, Loaded, RuleError, ToneLists};

use crate::domain::signals::Signals;

/// Categories a segment may declare as `sensitive`: GDPR art. 9 plus vulnerable situations.
pub const SENSITIVE_CATEGORIES: &[&str] = &[
    "racial_or_ethnic_origin",
    "political_opinions",
    "religious_beliefs",
    "trade_union_membership",
    "genetic",
    "biometric",
    "health",
    "sex_life",
    "sexual_orientation",
    "life_event",
    "financial_vulnerability",
    "children",
];

/// A compiled, validated set of rules; replaced whole on reload, never mutated.
#[derive(Debug)]
pub struct RuleSet {
    /// `sha256:` of the canonical form of every rule file.
    pub version: String,
    /// Segments, highest priority first (ties by id).
    pub segments: Vec<Segment>,
    /// Slots, by id.
    pub slots: Vec<Slot>,
    slot_index: HashMap<String, usize>,
    /// Experiment id → (slot index, rule index).
    experiment_index: HashMap<String, (usize, usize)>,
    /// Conversion goals declared for every experiment and segment (`[[goal]]`), sorted.
    pub goals: Vec<String>,
    /// Every goal any experiment declares, for events that name no experiment.
    experiment_goals: std::collections::HashSet<String>,
    /// Which segments a page view could match, so most are never evaluated.
    index: SegmentIndex,
    /// The files it was compiled from, in load order.
    pub files: Vec<RuleFile>,
}

/// One rule file of a set: its path as loaded and the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleFile {
    /// Path as given to the loader.
    pub name: String,
    /// Hex SHA-256 of the file's bytes (comments included, unlike the version).
    pub sha256: String,
}

/// A segment: who a page view is inferred to belong to.
#[derive(Debug)]
pub struct Segment {
    /// Stable id (`mortgage_intent`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the segment means, for marketers and compliance.
    pub description: String,
    /// Higher wins when several segments drive the same slot.
    pub priority: i64,
    /// GDPR art. 9 category or life event; such segments need explicit consent.
    pub sensitive: Option<String>,
    /// IAB Audience Taxonomy 1.1 ids released to RTB.
    pub audience_taxonomy: Vec<String>,
    /// IAB Content Taxonomy ids for the page context.
    pub content_taxonomy: Vec<String>,
    /// When a page view belongs to the segment.
    pub when: Condition,
    /// Whether `when` reads the session summary (a profile, in TCF terms), not only the current page.
    pub session_based: bool,
    /// Where it is defined, `file:line`.
    pub defined_at: String,
    /// The id as shared text, so counting never allocates.
    pub count_key: std::sync::Arc<str>,
}

/// A place on the page whose content is decided.
#[derive(Debug)]
pub struct Slot {
    /// Stable id (`hero`).
    pub id: String,
    /// What the slot is.
    pub description: String,
    /// Index into `variants` of the default (shown without consent, to the holdout, when nothing matches).
    pub default: usize,
    /// The variants.
    pub variants: Vec<Variant>,
    /// Segment → action, in segment priority order.
    pub rules: Vec<SlotRule>,
}

/// One content variant of a slot.
#[derive(Debug)]
pub struct Variant {
    /// Stable id.
    pub id: String,
    /// Content as pre-serialised JSON, copied into responses as is.
    pub content: Box<RawValue>,
    /// The whole answer for this variant outside experiments, `{"variant":…,"content":…}`,
    /// serialised once at load so a response copies bytes instead of escaping strings.
    pub rendered: Box<RawValue>,
}

impl Variant {
    /// A variant with its rendered answer.
    pub fn new(id: String, content: Box<RawValue>) -> Variant {
        let rendered = render(&id, &content, None);
        Variant { id, content, rendered }
    }
}

/// `{"variant":…,"content":…,"experiment"?:{"id":…,"arm":…}}`, the JSON of one slot's decision.
pub fn render(variant: &str, content: &RawValue, experiment: Option<(&str, &str)>) -> Box<RawValue> {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        variant: &'a str,
        content: &'a RawValue,
        #[serde(skip_serializing_if = "Option::is_none")]
        experiment: Option<ExperimentOut<'a>>,
    }
    #[derive(serde::Serialize)]
    struct ExperimentOut<'a> {
        id: &'a str,
        arm: &'a str,
    }
    let out = Out {
        variant,
        content,
        experiment: experiment.map(|(id, arm)| ExperimentOut { id, arm }),
    };
    // Strings and already-valid JSON always serialise.
    serde_json::to_string(&out)
        .and_then(RawValue::from_string)
        .unwrap_or_else(|e| unreachable!("a rendered variant is valid JSON: {e}"))
}

/// What a slot shows to a segment.
#[derive(Debug)]
pub struct SlotRule {
    /// Index into [`RuleSet::segments`].
    pub segment: usize,
    /// A fixed variant or an experiment.
    pub action: Action,
}

/// A slot rule's outcome.
#[derive(Debug)]
pub enum Action {
    /// Always this variant (index into the slot's variants).
    Variant(usize),
    /// Bucket the visitor into an arm or the holdout.
    Experiment(Experiment),
}

/// An A/B experiment with a holdout that sees the slot's default.
#[derive(Debug)]
pub struct Experiment {
    /// Globally unique id; also the bucketing salt.
    pub id: String,
    /// Holdout share in basis points (of 10,000 buckets).
    pub holdout_bp: u32,
    /// Arms with their weights in percent (summing to 100).
    pub arms: Vec<Arm>,
    /// Counting keys `experiment/variant`, one per arm.
    pub arm_keys: Vec<std::sync::Arc<str>>,
    /// Conversion goals declared for this experiment only (`experiment.goals`).
    pub goals: Vec<String>,
    /// Counting key `experiment/holdout`.
    pub holdout_key: std::sync::Arc<str>,
    /// Each arm's rendered answer (see [`Variant::rendered`]), then the holdout's.
    pub rendered: Vec<Box<RawValue>>,
    /// What its analysis is planned for (optional; see [`Plan`]).
    pub plan: Box<Plan>,
    /// Hash of what its analysis period depends on (see [`period::fingerprint`]).
    pub fingerprint: std::sync::Arc<str>,
}

/// An experiment's plan: the goal its verdict reads and the effect it is sized for.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Plan {
    /// The goal the verdict and planned size are about (else the experiment's first goal).
    pub primary_goal: Option<String>,
    /// Expected conversion rate of the control on the primary goal.
    pub baseline_rate: Option<f64>,
    /// Smallest relative lift worth detecting (0.10 = +10%).
    pub minimum_detectable_effect: Option<f64>,
}

/// One experiment arm.
#[derive(Debug)]
pub struct Arm {
    /// Index into the slot's variants.
    pub variant: usize,
    /// Share of the non-holdout buckets, in percent.
    pub weight: u32,
}

/// The segments a page view matched, as ascending indices into [`RuleSet::segments`] (so highest
/// priority first). A handful per page view even with thousands of segments.
#[derive(Debug, Clone, Default)]
pub struct Matches {
    hits: Vec<u32>,
}

impl Matches {
    /// Matches of the given segment indices (a preview's forced segments), in priority order.
    pub fn from_indices(mut indices: Vec<usize>) -> Matches {
        indices.sort_unstable();
        indices.dedup();
        Matches {
            hits: indices.into_iter().filter_map(|i| u32::try_from(i).ok()).collect(),
        }
    }

    /// Indices of matched segments, highest priority first.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.hits.iter().map(|&i| i as usize)
    }

    /// Whether nothing matched.
    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }

    /// How many segments matched.
    pub fn len(&self) -> usize {
        self.hits.len()
    }
}

impl RuleSet {
    /// Builds the set; `segments` and slot rules must already be in priority order.
    fn new(
        version: String,
        segments: Vec<Segment>,
        mut slots: Vec<Slot>,
        goals: Vec<String>,
        files: Vec<RuleFile>,
    ) -> RuleSet {
        period::fill_fingerprints(&segments, &mut slots);
        let slot_index = slots.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
        let experiment_index = slots
            .iter()
            .enumerate()
            .flat_map(|(si, slot)| {
                slot.rules
                    .iter()
                    .enumerate()
                    .filter_map(move |(ri, r)| match &r.action {
                        Action::Experiment(e) => Some((e.id.clone(), (si, ri))),
                        Action::Variant(_) => None,
                    })
            })
            .collect();
        let experiment_goals = slots
            .iter()
            .flat_map(|s| &s.rules)
            .filter_map(|r| match &r.action {
                Action::Experiment(e) => Some(e.goals.iter().cloned()),
                Action::Variant(_) => None,
            })
            .flatten()
            .collect();
        let index = SegmentIndex::build(segments.iter().map(|s| &s.when));
        RuleSet {
            version,
            segments,
            slots,
            slot_index,
            experiment_index,
            goals,
            experiment_goals,
            index,
            files,
        }
    }

    /// An experiment by id, with the slot it runs in.
    pub fn experiment(&self, id: &str) -> Option<ExperimentRef<'_>> {
        let &(si, ri) = self.experiment_index.get(id)?;
        let slot = &self.slots[si];
        match &slot.rules[ri].action {
            Action::Experiment(experiment) => Some(ExperimentRef { slot, experiment }),
            Action::Variant(_) => None,
        }
    }

    /// Whether `goal` is declared: globally (`[[goal]]`), or by the named experiment; without an
    /// experiment, by any experiment. Conversions of undeclared goals are refused, so the number
    /// of counting keys is bounded by the rules, never by traffic.
    pub fn goal_known(&self, experiment: Option<&str>, goal: &str) -> bool {
        let declared = |e: &Experiment| e.goals.iter().any(|g| g == goal);
        self.goals.binary_search_by(|g| g.as_str().cmp(goal)).is_ok()
            || match experiment {
                Some(id) => self.experiment(id).is_some_and(|e| declared(e.experiment)),
                None => self.experiment_goals.contains(goal),
            }
    }

    /// The segments these signals match.
    pub fn match_segments(&self, signals: &Signals) -> Matches {
        let mut hits = self.index.candidates(signals);
        hits.retain(|&i| self.segments[i as usize].when.eval(signals));
        Matches { hits }
    }

    /// The segments these signals match, evaluating every rule: the reference the index must equal.
    pub fn match_segments_exhaustive(&self, signals: &Signals) -> Matches {
        Matches {
            hits: (0..self.segments.len() as u32)
                .filter(|&i| self.segments[i as usize].when.eval(signals))
                .collect(),
        }
    }

    /// How many segments no index entry covers (evaluated on every page view).
    pub fn unindexed_segments(&self) -> usize {
        self.index.unguarded()
    }

    /// A slot by id.
    pub fn slot(&self, id: &str) -> Option<&Slot> {
        self.slot_index.get(id).map(|&i| &self.slots[i])
    }

    /// Every experiment with its slot.
    pub fn experiments(&self) -> impl Iterator<Item = (&Slot, &SlotRule, &Experiment)> {
        self.slots.iter().flat_map(|slot| {
            slot.rules.iter().filter_map(move |r| match &r.action {
                Action::Experiment(e) => Some((slot, r, e)),
                Action::Variant(_) => None,
            })
        })
    }
}

/// An experiment and the slot whose variants its arms show.
#[derive(Debug, Clone, Copy)]
pub struct ExperimentRef<'a> {
    /// The slot.
    pub slot: &'a Slot,
    /// The experiment.
    pub experiment: &'a Experiment,
}

impl<'a> ExperimentRef<'a> {
    /// The label of an arm: its variant id, or `holdout` for `None`.
    pub fn arm_label(&self, arm: Option<usize>) -> &'a str {
        arm.and_then(|a| self.experiment.arms.get(a))
            .map_or("holdout", |a| self.slot.variants[a.variant].id.as_str())
    }

    /// The variant ids of the arms, in order.
    pub fn arm_labels(&self) -> impl Iterator<Item = &'a str> + 'a {
        let slot = self.slot;
        self.experiment
            .arms
            .iter()
            .map(move |a| slot.variants[a.variant].id.as_str())
    }
}

impl Slot {
    /// The rule this slot has for segment `i` (rules are sorted by segment, one per segment).
    pub fn rule_for(&self, segment: usize) -> Option<&SlotRule> {
        self.rules
            .binary_search_by_key(&segment, |r| r.segment)
            .ok()
            .map(|p| &self.rules[p])
    }
}

impl Experiment {
    /// The rendered answer of an arm (`None` = holdout).
    pub fn rendered(&self, arm: Option<usize>) -> &RawValue {
        let i = arm.filter(|&a| a < self.arms.len()).unwrap_or(self.arms.len());
        &self.rendered[i]
    }

    /// The counting key of an arm (`None` = holdout).
    pub fn count_key(&self, arm: Option<usize>) -> &std::sync::Arc<str> {
        arm.and_then(|a| self.arm_keys.get(a)).unwrap_or(&self.holdout_key)
    }

    /// The arm for a bucket in `0..10_000`: `None` is the holdout; otherwise the arm index.
    ///
    /// The holdout takes buckets `0..holdout_bp`; the rest are split across the arms by cumulative
    /// weight, so each arm gets `weight`% of the visitors outside the holdout.
    pub fn arm_for_bucket(&self, bucket: u32) -> Option<usize> {
        if bucket < self.holdout_bp {
            return None;
        }
        let span = u64::from(10_000 - self.holdout_bp);
        let pos = u64::from(bucket - self.holdout_bp);
        let mut cumulative = 0u64;
        for (i, arm) in self.arms.iter().enumerate() {
            cumulative += u64::from(arm.weight);
            if pos * 100 < cumulative * span {
                return Some(i);
            }
        }
        self.arms.len().checked_sub(1)
    }
}
