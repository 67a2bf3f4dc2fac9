//! Segment rules: the declarative `segment_rules/*.toml` files, validated and compiled into an
//! immutable [`RuleSet`] that decisions read without locks.

pub mod condition;
pub mod load;

use std::collections::HashMap;

use serde_json::value::RawValue;

pub use condition::Condition;
pub use load::{load_dir, LoadErrors, RuleError};

use crate::signals::Signals;

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
    /// Counting key `experiment/holdout`.
    pub holdout_key: std::sync::Arc<str>,
}

/// One experiment arm.
#[derive(Debug)]
pub struct Arm {
    /// Index into the slot's variants.
    pub variant: usize,
    /// Share of the non-holdout buckets, in percent.
    pub weight: u32,
}

/// The segments a page view matched, as flags over [`RuleSet::segments`].
#[derive(Debug, Clone, Default)]
pub struct Matches {
    hits: Vec<bool>,
}

impl Matches {
    /// Whether segment `i` matched.
    pub fn contains(&self, i: usize) -> bool {
        self.hits.get(i).copied().unwrap_or(false)
    }

    /// Indices of matched segments, highest priority first.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.hits.iter().enumerate().filter(|(_, &h)| h).map(|(i, _)| i)
    }

    /// Whether nothing matched.
    pub fn is_empty(&self) -> bool {
        !self.hits.iter().any(|&h| h)
    }
}

impl RuleSet {
    /// Builds the set; `segments` and slot rules must already be in priority order.
    fn new(version: String, segments: Vec<Segment>, slots: Vec<Slot>) -> RuleSet {
        let slot_index = slots.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
        RuleSet {
            version,
            segments,
            slots,
            slot_index,
        }
    }

    /// The segments these signals match.
    pub fn match_segments(&self, signals: &Signals) -> Matches {
        Matches {
            hits: self.segments.iter().map(|s| s.when.eval(signals)).collect(),
        }
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

impl Experiment {
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
