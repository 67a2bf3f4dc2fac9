//! An experiment's analysis-period fingerprint: a hash of everything that, when it changes, makes
//! the results so far incomparable with what follows — its bucketing (holdout, arms, weights), what
//! each arm and the holdout show, and the condition of the segment it runs for (`docs/reports.md`).
//! A new fingerprint starts a new analysis period.

use std::fmt::Write as _;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{Action, Experiment, Segment, Slot};

/// The fingerprint of `e`, running in a slot for `segment`: 16 hex characters.
pub fn fingerprint(e: &Experiment, segment: Option<&Segment>) -> String {
    let mut canonical = String::new();
    let _ = write!(canonical, "holdout_bp={};", e.holdout_bp);
    for (arm, key) in e.arms.iter().zip(&e.arm_keys) {
        let _ = write!(canonical, "arm={key}:{};", arm.weight);
    }
    for rendered in &e.rendered {
        let _ = write!(canonical, "shows={};", rendered.get());
    }
    if let Some(s) = segment {
        let _ = write!(canonical, "segment={}:{:?};", s.id, s.when);
    }
    hex::encode(&Sha256::digest(canonical.as_bytes())[..8])
}

/// Sets every experiment's [`Experiment::fingerprint`] once the set's segments are known.
pub(super) fn fill_fingerprints(segments: &[Segment], slots: &mut [Slot]) {
    for slot in slots {
        for rule in &mut slot.rules {
            let segment = segments.get(rule.segment);
            if let Action::Experiment(e) = &mut rule.action {
                e.fingerprint = Arc::from(fingerprint(e, segment));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::rules::load::load_sources_with;
    use crate::domain::rules::LoadOptions;

    const PATH_X: &str = r#"{ signal = "page.path", op = "starts_with", value = "/x" }"#;
    const PATH_Y: &str = r#"{ signal = "page.path", op = "starts_with", value = "/y" }"#;

    fn set(weights: (u32, u32), holdout: u32, condition: &str, content: &str) -> String {
        let text = format!(
            r#"
[[segment]]
id = "s"
name = "S"
description = "d"
priority = 1
when = {condition}

[[slot]]
id = "hero"
description = "d"
default = "a"
[slot.variants.a]
content = {{ headline = "A" }}
[slot.variants.b]
content = {{ headline = "{content}" }}

[[rule]]
slot = "hero"
segment = "s"
experiment.id = "e"
experiment.holdout_percent = {holdout}
experiment.arms = [{{ variant = "a", weight = {} }}, {{ variant = "b", weight = {} }}]
"#,
            weights.0, weights.1
        );
        let loaded = load_sources_with(&[("r.toml".to_string(), text)], &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let e = loaded
            .rules
            .experiment("e")
            .map(|e| e.experiment.fingerprint.to_string());
        e.unwrap_or_default()
    }

    #[test]
    fn a_new_period_starts_when_bucketing_content_or_condition_changes() {
        let base = set((50, 50), 10, PATH_X, "B");
        assert_eq!(base.len(), 16);
        assert_eq!(base, set((50, 50), 10, PATH_X, "B"), "stable");
        assert_ne!(base, set((40, 60), 10, PATH_X, "B"), "weights");
        assert_ne!(base, set((50, 50), 20, PATH_X, "B"), "holdout");
        assert_ne!(base, set((50, 50), 10, PATH_Y, "B"), "condition");
        assert_ne!(base, set((50, 50), 10, PATH_X, "C"), "content");
    }
}
