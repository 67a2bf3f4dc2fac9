//! What an analysis reads: per arm its configured share, exact exposures (for SRM only) and the
//! released counts, plus the method, the adjustment and the plan from the rules.

use serde::{Deserialize, Serialize};

use super::adjust::Adjustment;

/// One arm (the control first).
#[derive(Debug, Clone, PartialEq)]
pub struct ArmInput {
    /// The arm's label (`holdout` or the arm id).
    pub label: String,
    /// Configured share of units; the shares of all arms sum to 1.
    pub share: f64,
    /// Exact exposed units: read by the SRM check only, never shown or used for anything else.
    pub exposures_exact: u64,
    /// Released exposures; `None` while suppressed.
    pub exposures: Option<i64>,
    /// Released converters per goal, in the order of [`AnalysisInput::goals`]; `None` while suppressed.
    pub conversions: Vec<Option<i64>>,
}

/// The plan an experiment may declare in the rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The goal the verdict reads (default: the first goal).
    pub primary_goal: Option<String>,
    /// Expected conversion rate of the control on the primary goal.
    pub baseline_rate: Option<f64>,
    /// Smallest relative lift worth detecting (0.10 = 10%).
    pub minimum_detectable_effect: Option<f64>,
}

/// Which test the intervals and p-values come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Always-valid: look as often as you like.
    #[default]
    Sequential,
    /// Wald z-test: valid only when read once, at the planned size.
    FixedHorizon,
}

/// Everything [`super::analyse`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisInput {
    /// The arms, control first.
    pub arms: Vec<ArmInput>,
    /// Goal ids, in the order of each arm's `conversions`.
    pub goals: Vec<String>,
    /// The test.
    pub method: Method,
    /// The multiple-comparison adjustment over all arms × goals.
    pub adjustment: Adjustment,
    /// Error rate of the intervals and tests (0.05).
    pub alpha: f64,
    /// Variance of each released count around the exact count at the look
    /// ([`crate::domain::counts::release::count_variance`]: the noise, and the lag of a cell that
    /// waits for k more units before it is released again).
    pub noise_variance: f64,
    /// The plan, if the rules give one.
    pub plan: Plan,
    /// Days since the analysis period started (for the days left at current traffic).
    pub days_elapsed: f64,
}
