//! Decisions: which segments a page view belongs to, and which variant every slot shows.

use sha2::{Digest, Sha256};

use crate::domain::consent::Consent;
use crate::domain::privacy::VisitorKey;
use crate::domain::rules::{Action, Experiment, Matches, RuleSet, Segment, Slot, Variant};
use crate::domain::signals::{Signals, Warning};

/// Number of buckets visitors are spread over.
pub const BUCKETS: u32 = 10_000;

/// The bucket of a visitor in an experiment (published in docs/architecture.md):
/// `u64::from_be_bytes(SHA-256(experiment_id ‖ ":" ‖ key)[0..8]) % 10_000`, with the key's 32 raw bytes.
pub fn bucket(experiment_id: &str, key: &VisitorKey) -> u32 {
    let mut h = Sha256::new();
    h.update(experiment_id.as_bytes());
    h.update(b":");
    h.update(key.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(BUCKETS)) as u32
}

/// Why a slot shows what it shows.
#[derive(Debug, Clone, Copy)]
pub enum Reason<'r> {
    /// No `personalize` consent: the default.
    NoConsent,
    /// The page matches a sensitive segment without explicit consent: nothing is personalised on it.
    SensitivePage,
    /// No matched segment has a rule for this slot: the default.
    NoRule,
    /// A segment's fixed variant.
    Segment(&'r Segment),
    /// Forced by a preview token.
    Preview,
    /// A segment's experiment; `arm` is `None` for the holdout.
    Experiment {
        segment: &'r Segment,
        experiment: &'r Experiment,
        arm: Option<usize>,
    },
}

/// What one slot shows.
#[derive(Debug, Clone, Copy)]
pub struct SlotDecision<'r> {
    /// The slot.
    pub slot: &'r Slot,
    /// The chosen variant.
    pub variant: &'r Variant,
    /// Why.
    pub reason: Reason<'r>,
}

impl<'r> SlotDecision<'r> {
    /// This decision's JSON, rendered when the rules were loaded.
    pub fn rendered(&self) -> &'r serde_json::value::RawValue {
        match self.reason {
            Reason::Experiment { experiment, arm, .. } => experiment.rendered(arm),
            _ => &self.variant.rendered,
        }
    }
}

/// A full decision for one page view.
#[derive(Debug, Clone)]
pub struct Decision<'r> {
    /// Segments the page view belongs to (empty without `personalize`), highest priority first.
    pub segments: Vec<&'r Segment>,
    /// One entry per decided slot, in slot id order.
    pub slots: Vec<SlotDecision<'r>>,
    /// Requested slots that do not exist, and similar notes.
    pub warnings: Vec<Warning>,
}

/// Decides a page view. `only` limits the answer to these slots (unknown ones produce a warning).
pub fn decide<'r>(
    rules: &'r RuleSet,
    signals: &Signals,
    consent: &Consent,
    key: &VisitorKey,
    only: Option<&[String]>,
) -> Decision<'r> {
    let matches = if consent.purposes.personalize {
        Some(rules.match_segments(signals))
    } else {
        None
    };
    decide_matched(rules, matches, consent, key, only)
}

/// Decides a page view whose segments are already known (`None` without `personalize`).
pub fn decide_matched<'r>(
    rules: &'r RuleSet,
    matches: Option<Matches>,
    consent: &Consent,
    key: &VisitorKey,
    only: Option<&[String]>,
) -> Decision<'r> {
    let mut warnings = Vec::new();
    // A sensitive segment needs an explicit choice, never a default (docs/architecture.md, "How a TC string maps to purposes"). Without one, a page
    // that matches it gets no personalisation at all: no offers beside a bereavement page.
    let sensitive_page = !consent.explicit
        && matches
            .as_ref()
            .is_some_and(|m| m.iter().any(|i| rules.segments[i].sensitive.is_some()));
    let personalize = consent.purposes.personalize && !sensitive_page;
    // A session-based segment reads the on-device summary: a profile in TCF terms (purposes 5 and 6).
    // Only matched segments are walked, so the cost follows the page view, not the rule set's size.
    let eligible: Vec<usize> = match &matches {
        Some(m) if personalize => m
            .iter()
            .filter(|&i| !rules.segments[i].session_based || consent.profile_personalize)
            .collect(),
        _ => Vec::new(),
    };
    let segments = eligible.iter().map(|&i| &rules.segments[i]).collect();

    let decide_slot = |slot: &'r Slot| -> SlotDecision<'r> {
        let default = SlotDecision {
            slot,
            variant: &slot.variants[slot.default],
            reason: Reason::NoRule,
        };
        if sensitive_page {
            return SlotDecision {
                reason: Reason::SensitivePage,
                ..default
            };
        }
        if !personalize {
            return SlotDecision {
                reason: Reason::NoConsent,
                ..default
            };
        }
        // The highest-priority eligible segment with a rule here; `eligible` is in priority order.
        let Some(rule) = eligible.iter().find_map(|&i| slot.rule_for(i)) else {
            return default;
        };
        let segment = &rules.segments[rule.segment];
        match &rule.action {
            Action::Variant(v) => SlotDecision {
                slot,
                variant: &slot.variants[*v],
                reason: Reason::Segment(segment),
            },
            Action::Experiment(experiment) => {
                let arm = experiment.arm_for_bucket(bucket(&experiment.id, key));
                let variant = arm.map_or(slot.default, |a| experiment.arms[a].variant);
                SlotDecision {
                    slot,
                    variant: &slot.variants[variant],
                    reason: Reason::Experiment {
                        segment,
                        experiment,
                        arm,
                    },
                }
            }
        }
    };

    let slots = match only {
        None => rules.slots.iter().map(decide_slot).collect(),
        Some(wanted) => {
            let mut out = Vec::with_capacity(wanted.len());
            for (i, id) in wanted.iter().enumerate() {
                match rules.slot(id) {
                    Some(slot) if !out.iter().any(|d: &SlotDecision<'_>| d.slot.id == slot.id) => {
                        out.push(decide_slot(slot))
                    }
                    Some(_) => {}
                    None => warnings.push(Warning {
                        code: "unknown_slot",
                        field: format!("slots[{i}]"),
                        message: "no slot with this id in the active rules; it was skipped".into(),
                    }),
                }
            }
            out
        }
    };
    Decision {
        segments,
        slots,
        warnings,
    }
}
