//! One simulated experiment read as the server reads it: at every daily look each cell is released
//! by `release_cell` (k, keyed noise, re-released only after k more units), the released counts go
//! through `analyse`, and the outcome records what an analyst would have concluded. The negative
//! control reads the same runs as before: a fixed-horizon z-test (`report::compare`) on HyperLogLog
//! counts at each of the first 14 looks.

use super::model::{true_diff, ArmCounts, Arms};
use crate::domain::counts::release::{cell_id, count_variance, release_cell, NoiseKey, Released, Support};
use crate::domain::counts::report::compare;
use crate::domain::experiments::{analyse, Adjustment, AnalysisInput, ArmInput, Method, Plan};

/// Looks of the negative control.
pub const NEGATIVE_CONTROL_LOOKS: usize = super::model::HLL_LOOKS;

/// How a run is read.
#[derive(Debug, Clone)]
pub struct Reading {
    /// Minimum visitors and networks behind a released count.
    pub k: u64,
    /// ε per released count (sensitivity 1).
    pub epsilon: f64,
    /// The plan the rules declare.
    pub plan: Plan,
    /// Error rate.
    pub alpha: f64,
}

/// What one run showed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Outcome {
    /// The sequential adjusted interval excluded 0 at some look (either side).
    pub rejected: bool,
    /// ... above 0 (the arm better) at some look.
    pub better: bool,
    /// The sequential adjusted interval held the true difference at every look it was shown.
    pub covered: bool,
    /// The fixed-horizon test, read once at the last look, found the arm better.
    pub fixed_final_better: bool,
    /// The fixed-horizon test read at every look rejected at some look (peeking).
    pub fixed_peeking_rejected: bool,
    /// Today's HLL z-test rejected at one of the first 14 looks (`None` without sketches).
    pub negative_control: Option<bool>,
    /// SRM flagged at some look.
    pub srm_flagged: bool,
    /// Looks at which the primary comparison was suppressed by k.
    pub suppressed_looks: u32,
    /// Looks.
    pub looks: u32,
}

/// Releases one cell at a look, keeping its previous release.
fn release(
    reading: &Reading,
    key: &NoiseKey,
    cell: &str,
    exact: u64,
    networks: f64,
    previous: &mut Option<Released>,
) -> Option<i64> {
    let support = Support {
        visitors: exact,
        networks,
    };
    *previous = release_cell(
        reading.k,
        key,
        cell,
        reading.epsilon,
        1.0,
        exact,
        support,
        previous.as_ref(),
    );
    previous.map(|r| r.value)
}

/// Reads one run, arm 1 against the control (arm 0); other arms are released and analysed too.
pub fn evaluate(looks: &[Vec<ArmCounts>], arms: &Arms, reading: &Reading, noise_key: &NoiseKey) -> Outcome {
    let k = arms.shares.len();
    let labels: Vec<String> = (0..k)
        .map(|i| if i == 0 { "control".into() } else { format!("arm{i}") })
        .collect();
    let cells: Vec<(String, String)> = labels
        .iter()
        .map(|l| {
            let subject = format!("sim/{l}");
            (
                cell_id("exposures", &subject, None, "p1"),
                cell_id("conversions", &subject, Some("goal"), "p1"),
            )
        })
        .collect();
    let mut previous: Vec<(Option<Released>, Option<Released>)> = vec![(None, None); k];
    let variance = count_variance(reading.k, reading.epsilon, 1.0);
    let mut out = Outcome {
        covered: true,
        ..Outcome::default()
    };
    let mut negative = looks.first().and_then(|l| l.first()).and_then(|c| c.hll).map(|_| false);
    for (day, counts) in looks.iter().enumerate() {
        let inputs: Vec<ArmInput> = (0..k)
            .map(|arm| {
                let c = counts[arm];
                let (prev_e, prev_c) = &mut previous[arm];
                ArmInput {
                    label: labels[arm].clone(),
                    share: arms.shares[arm],
                    exposures_exact: c.exposures,
                    exposures: release(
                        reading,
                        noise_key,
                        &cells[arm].0,
                        c.exposures,
                        c.exposure_networks,
                        prev_e,
                    ),
                    conversions: vec![release(
                        reading,
                        noise_key,
                        &cells[arm].1,
                        c.converters,
                        c.converter_networks,
                        prev_c,
                    )],
                }
            })
            .collect();
        let mut input = AnalysisInput {
            arms: inputs,
            goals: vec!["goal".into()],
            method: Method::Sequential,
            adjustment: Adjustment::Holm,
            alpha: reading.alpha,
            noise_variance: variance,
            plan: reading.plan.clone(),
            days_elapsed: (day + 1) as f64,
        };
        let sequential = analyse(&input);
        out.looks += 1;
        out.srm_flagged |= sequential.srm.flagged;
        match sequential.arms[1].goals[0].adjusted_interval {
            Some([lo, hi]) => {
                out.rejected |= lo > 0.0 || hi < 0.0;
                out.better |= lo > 0.0;
                let truth = true_diff(arms, 1, day);
                out.covered &= lo <= truth && truth <= hi;
            }
            None => out.suppressed_looks += 1,
        }
        input.method = Method::FixedHorizon;
        let fixed = analyse(&input);
        if let Some([lo, hi]) = fixed.arms[1].goals[0].adjusted_interval {
            out.fixed_peeking_rejected |= lo > 0.0 || hi < 0.0;
            if day + 1 == looks.len() {
                out.fixed_final_better = lo > 0.0;
            }
        }
        if day < NEGATIVE_CONTROL_LOOKS {
            if let (Some(flag), Some((n0, x0)), Some((n1, x1))) = (negative.as_mut(), counts[0].hll, counts[1].hll) {
                // Today's reports: suppressed below k estimated visitors, else the pooled z-test.
                let shown = n0.round() >= reading.k as f64 && n1.round() >= reading.k as f64;
                if shown {
                    *flag |= compare(x1, n1, x0, n0)
                        .and_then(|s| s.p_value)
                        .is_some_and(|p| p < 0.05);
                }
            }
        }
    }
    out.negative_control = negative;
    out
}
