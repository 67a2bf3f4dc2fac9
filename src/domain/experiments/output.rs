//! What an analysis says: per arm and goal the rates, difference, lift, intervals and p-values
//! (raw and adjusted), the SRM state, progress toward the planned size, and the verdict.

use serde::Serialize;

use super::adjust::Adjustment;
use super::input::Method;
use super::srm::Srm;

/// One arm on one goal. The control's comparison fields are all `None`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoalResult {
    /// The goal id.
    pub goal: String,
    /// Released converters; `None` while suppressed.
    pub conversions: Option<i64>,
    /// conversions / exposures.
    pub rate: Option<f64>,
    /// rate − control rate.
    pub diff: Option<f64>,
    /// (rate − control rate) / control rate.
    pub lift: Option<f64>,
    /// Interval of `diff` at α, before adjustment.
    pub interval: Option<[f64; 2]>,
    /// p-value of "no difference", before adjustment.
    pub p_value: Option<f64>,
    /// p-value after the adjustment over all arms × goals.
    pub adjusted_p_value: Option<f64>,
    /// Interval of `diff` at the level the adjustment gives this comparison (α · p / adjusted p):
    /// it excludes 0 exactly when the adjusted p-value is below α. The verdict and the forest
    /// plot read this one.
    pub adjusted_interval: Option<[f64; 2]>,
}

/// One arm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmResult {
    /// The arm's label.
    pub label: String,
    /// Released exposures; `None` while suppressed.
    pub exposures: Option<i64>,
    /// One entry per goal, in the input's order.
    pub goals: Vec<GoalResult>,
}

/// What to do with the experiment now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// Not enough data yet: this many more visitors per arm reach the planned size.
    KeepRunning {
        /// Visitors per arm still needed.
        more_per_arm: u64,
    },
    /// The arm beats the control on the primary goal (adjusted interval above 0).
    Better {
        /// The arm's label.
        arm: String,
        /// Relative lift.
        lift: Option<f64>,
        /// The adjusted interval of the difference.
        interval: [f64; 2],
    },
    /// The arm is worse than the control on the primary goal (adjusted interval below 0).
    Worse {
        /// The arm's label.
        arm: String,
        /// Relative lift.
        lift: Option<f64>,
        /// The adjusted interval of the difference.
        interval: [f64; 2],
    },
    /// Planned size reached and every arm's adjusted interval lies within ±MDE of the control rate.
    NoDifference,
    /// Planned size reached (or no plan) and nothing can be concluded.
    Inconclusive,
    /// Exposures do not follow the configured split: fix the cause before reading anything.
    SampleRatioMismatch,
}

/// Everything the report shows about an experiment's analysis period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// The test used.
    pub method: Method,
    /// The adjustment used.
    pub adjustment: Adjustment,
    /// Error rate of intervals and tests.
    pub alpha: f64,
    /// The goal the verdict reads.
    pub primary_goal: Option<String>,
    /// The arms, control first.
    pub arms: Vec<ArmResult>,
    /// Sample ratio mismatch on exact exposures.
    pub srm: Srm,
    /// Visitors per arm for 80% power at the planned effect.
    pub planned_per_arm: Option<u64>,
    /// Smallest arm's released exposures over the planned size, at most 1.
    pub progress: Option<f64>,
    /// Days to the planned size at the traffic so far.
    pub days_left: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}
