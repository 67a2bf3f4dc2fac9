//! The simulator: many A/A and A/B experiments through the real counting (`unit_hash`, `UnitSet`),
//! release (`release_cell`) and analysis (`analyse`) code, looked at daily for 28 days, at several
//! sizes; sequential SRM runs; and a check of the planned size. Pure and seeded: the same
//! configuration gives the same table. `personify simulate` prints it; docs/experiment-statistics.md
//! holds the full table.

pub mod evaluate;
pub mod model;
pub mod sampling;
pub mod table;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::input::{Method, Plan};
use super::plan::{planned_per_arm, tuning};
use super::sequential;
use super::srm::srm;
use crate::domain::counts::release::{count_variance, NoiseKey};
use evaluate::{evaluate, Outcome, Reading};
use model::{aggregated, per_visitor, ArmCounts, Arms, LOOKS};

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Visitors per arm (two arms, 50/50).
    pub sizes: Vec<u64>,
    /// A/A runs and A/B runs per size, and runs per SRM-power and planned-size row.
    pub runs: u32,
    /// Runs of each SRM false-flag row.
    pub srm_runs: u32,
    /// Sizes up to this are counted visitor by visitor; larger ones are aggregated.
    pub per_visitor_up_to: u64,
    /// Sizes up to this also run the negative control (HyperLogLog sketches of every A/A run:
    /// seconds per run at 10⁶ per arm in a debug build).
    pub negative_control_up_to: u64,
    /// Seed of everything.
    pub seed: u64,
    /// k of the releases.
    pub k: u64,
    /// ε per released count.
    pub epsilon: f64,
    /// Error rate.
    pub alpha: f64,
    /// The control's conversion rate.
    pub baseline: f64,
    /// Share of traffic that is cookieless (excluded from experiment counts, stated in the table).
    pub cookieless_share: f64,
    /// Also run the SRM-power and planned-size rows (minutes at full size).
    pub extended: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sizes: vec![1_000, 10_000, 100_000, 1_000_000],
            runs: 1_000,
            srm_runs: 10_000,
            per_visitor_up_to: 100_000,
            negative_control_up_to: u64::MAX,
            seed: 1,
            k: 50,
            epsilon: 0.5,
            alpha: 0.05,
            baseline: 0.05,
            cookieless_share: 0.2,
            extended: true,
        }
    }
}

/// How a size's runs were counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Every visitor through `unit_hash` and `UnitSet` (and HLL sketches).
    PerVisitor,
    /// Per-day binomial counts.
    Aggregated,
}

/// One size's results; rates are shares of runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SizeRow {
    /// Visitors per arm.
    pub size: u64,
    /// How the runs were counted.
    pub path: Path,
    /// A/A runs (and as many A/B runs).
    pub runs: u32,
    /// Relative lift of the A/B runs: 80% power for a fixed-horizon test at this size.
    pub lift: f64,
    /// A/A: the sequential interval excluded 0 at some look.
    pub false_positives: f64,
    /// A/A: the fixed-horizon test read daily rejected at some look.
    pub peeking_false_positives: f64,
    /// A/A: today's HLL z-test over 14 looks rejected (per-visitor path only).
    pub negative_control: Option<f64>,
    /// A/A: the interval held the true difference (0) at every look.
    pub coverage_aa: f64,
    /// A/B: the interval held the true difference at every look.
    pub coverage_ab: f64,
    /// A/B: the sequential interval showed the arm better at some look.
    pub power_sequential: f64,
    /// A/B: the fixed-horizon test read once, at day 28, showed the arm better.
    pub power_fixed: f64,
    /// A/A and A/B: SRM flagged at some look.
    pub srm_false_flags: f64,
    /// Share of looks whose comparison was suppressed by k.
    pub suppressed_looks: f64,
    /// The sequential planned size for this lift (from the rules' plan).
    pub planned_per_arm: Option<u64>,
}

/// A row of SRM runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SrmRow {
    /// Visitors per (non-holdout) arm before any loss.
    pub size: u64,
    /// Configured shares.
    pub shares: Vec<f64>,
    /// Share of the last arm's visitors lost.
    pub loss: f64,
    /// Runs.
    pub runs: u32,
    /// Flagged at some of the 28 looks.
    pub flagged: f64,
    /// How the runs were counted.
    pub path: Path,
}

/// The planned size against the simulated power around it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRow {
    /// Planned visitors per arm (baseline, 10% lift, sequential).
    pub planned_per_arm: u64,
    /// (multiple of the planned size, simulated power of the sequential test by then).
    pub power: Vec<(f64, f64)>,
    /// Runs per point.
    pub runs: u32,
}

/// Everything the simulator found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// What was run.
    pub config: Config,
    /// One row per size.
    pub sizes: Vec<SizeRow>,
    /// SRM rows.
    pub srm: Vec<SrmRow>,
    /// The planned-size check.
    pub planned: Option<PlannedRow>,
}

/// Relative lift at which a fixed-horizon test at `alpha` has 80% power with `n` per arm.
fn fixed_horizon_lift(baseline: f64, n: u64, alpha: f64, variance: f64) -> f64 {
    let (mut lo, mut hi) = (1e-4f64, 20.0f64);
    for _ in 0..100 {
        let mid = (lo * hi).sqrt();
        match planned_per_arm(Method::FixedHorizon, 0.0, alpha, baseline, mid, variance) {
            Some(p) if p <= n => hi = mid,
            _ => lo = mid,
        }
    }
    hi
}

/// /24 networks the traffic comes from: ten per visitor per arm, at least 20·k, so k networks
/// come with k visitors.
fn networks(size: u64, k: u64) -> u64 {
    (10 * size).max(20 * k)
}

/// Counts one run; with `hll` (a seed), also into the negative control's sketches.
fn counts(
    rng: &mut StdRng,
    path: Path,
    total: u64,
    arms: &Arms,
    networks: u64,
    hll: Option<u64>,
) -> Vec<Vec<ArmCounts>> {
    match path {
        Path::PerVisitor => per_visitor(rng, total, arms, networks, hll.is_some()),
        Path::Aggregated => aggregated(rng, total, arms, networks, hll),
    }
}

/// Runs `runs` experiments and reads each; with `hll` (a seed), each also fills the negative
/// control's sketches.
#[allow(clippy::too_many_arguments)]
fn runs(
    rng: &mut StdRng,
    runs: u32,
    path: Path,
    total: u64,
    arms: &Arms,
    reading: &Reading,
    networks: u64,
    hll: Option<u64>,
) -> Vec<Outcome> {
    (0..runs)
        .map(|run| {
            let seed = hll.map(|s| s ^ u64::from(run).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let looks = counts(rng, path, total, arms, networks, seed);
            evaluate(&looks, arms, reading, &NoiseKey::from_bytes(rng.random()))
        })
        .collect()
}

/// Share of outcomes for which `f` holds.
fn share(outcomes: &[Outcome], f: impl Fn(&Outcome) -> bool) -> f64 {
    outcomes.iter().filter(|o| f(o)).count() as f64 / outcomes.len().max(1) as f64
}

/// One size: A/A and A/B runs.
fn size_row(config: &Config, size: u64) -> SizeRow {
    let mut rng = StdRng::seed_from_u64(config.seed ^ size.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let path = if size <= config.per_visitor_up_to {
        Path::PerVisitor
    } else {
        Path::Aggregated
    };
    let variance = count_variance(config.k, config.epsilon, 1.0);
    let lift = fixed_horizon_lift(config.baseline, size, config.alpha, variance);
    let plan = Plan {
        primary_goal: None,
        baseline_rate: Some(config.baseline),
        minimum_detectable_effect: Some(lift),
    };
    let rho = sequential::rho(config.alpha, tuning(&plan, config.alpha, config.alpha, variance));
    let reading = Reading {
        k: config.k,
        epsilon: config.epsilon,
        plan,
        alpha: config.alpha,
    };
    let nets = networks(size, config.k);
    let aa = Arms {
        shares: vec![0.5, 0.5],
        rates: vec![config.baseline; 2],
        kept: vec![1.0; 2],
    };
    let ab = Arms {
        rates: vec![config.baseline, config.baseline * (1.0 + lift)],
        ..aa.clone()
    };
    // Only the A/A runs feed the negative control (today's HLL z-test).
    let hll = (size <= config.negative_control_up_to).then_some(config.seed ^ size ^ 0x484c_4c00);
    let a = runs(&mut rng, config.runs, path, 2 * size, &aa, &reading, nets, hll);
    let b = runs(&mut rng, config.runs, path, 2 * size, &ab, &reading, nets, None);
    let all: Vec<Outcome> = a.iter().chain(&b).copied().collect();
    let looks: u32 = all.iter().map(|o| o.looks).sum();
    SizeRow {
        size,
        path,
        runs: config.runs,
        lift,
        false_positives: share(&a, |o| o.rejected),
        peeking_false_positives: share(&a, |o| o.fixed_peeking_rejected),
        negative_control: a
            .first()
            .and_then(|o| o.negative_control)
            .map(|_| share(&a, |o| o.negative_control == Some(true))),
        coverage_aa: share(&a, |o| o.covered),
        coverage_ab: share(&b, |o| o.covered),
        power_sequential: share(&b, |o| o.better),
        power_fixed: share(&b, |o| o.fixed_final_better),
        srm_false_flags: share(&all, |o| o.srm_flagged),
        suppressed_looks: all.iter().map(|o| o.suppressed_looks).sum::<u32>() as f64 / looks.max(1) as f64,
        planned_per_arm: planned_per_arm(Method::Sequential, rho, config.alpha, config.baseline, lift, variance),
    }
}

/// SRM runs: flagged at any of the 28 looks, on exact exposure counts.
fn srm_row(config: &Config, size: u64, shares: Vec<f64>, loss: f64, runs: u32, path: Path) -> SrmRow {
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5352_4d00 ^ size ^ loss.to_bits());
    let main: f64 = shares.iter().skip(1).copied().fold(0.0, f64::max);
    let total = (size as f64 / main).round() as u64;
    let mut kept = vec![1.0; shares.len()];
    if let Some(last) = kept.last_mut() {
        *last = 1.0 - loss;
    }
    let arms = Arms {
        rates: vec![config.baseline; shares.len()],
        kept,
        shares: shares.clone(),
    };
    let nets = networks(size, config.k);
    let flagged = (0..runs)
        .filter(|_| {
            let looks = match path {
                Path::PerVisitor => per_visitor(&mut rng, total, &arms, nets, false),
                Path::Aggregated => aggregated(&mut rng, total, &arms, nets, None),
            };
            looks
                .iter()
                .any(|look| srm(&look.iter().map(|c| c.exposures).collect::<Vec<_>>(), &shares).flagged)
        })
        .count();
    SrmRow {
        size,
        shares,
        loss,
        runs,
        flagged: flagged as f64 / runs.max(1) as f64,
        path,
    }
}

/// The planned size of the sequential test for a 10% lift, and the simulated power at 0.9, 1 and
/// 1.1 times it: the planned size is right within ±10% when 80% lies between the outer two.
fn planned_row(config: &Config) -> Option<PlannedRow> {
    let variance = count_variance(config.k, config.epsilon, 1.0);
    let plan = Plan {
        primary_goal: None,
        baseline_rate: Some(config.baseline),
        minimum_detectable_effect: Some(0.10),
    };
    let rho = sequential::rho(config.alpha, tuning(&plan, config.alpha, config.alpha, variance));
    let planned = planned_per_arm(Method::Sequential, rho, config.alpha, config.baseline, 0.10, variance)?;
    let reading = Reading {
        k: config.k,
        epsilon: config.epsilon,
        plan,
        alpha: config.alpha,
    };
    let ab = Arms {
        shares: vec![0.5, 0.5],
        rates: vec![config.baseline, config.baseline * 1.1],
        kept: vec![1.0; 2],
    };
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0x504c_414e);
    let power = [0.9, 1.0, 1.1]
        .iter()
        .map(|&f| {
            let size = (planned as f64 * f).round() as u64;
            let out = runs(
                &mut rng,
                config.runs,
                Path::Aggregated,
                2 * size,
                &ab,
                &reading,
                networks(size, config.k),
                None,
            );
            (f, share(&out, |o| o.better))
        })
        .collect();
    Some(PlannedRow {
        planned_per_arm: planned,
        power,
        runs: config.runs,
    })
}

/// Runs everything in `config`.
pub fn simulate(config: &Config) -> Report {
    let sizes = config.sizes.iter().map(|&s| size_row(config, s)).collect();
    let mut srm_rows = Vec::new();
    let holdout = vec![0.1, 0.45, 0.45];
    let small = config.sizes.iter().copied().min().unwrap_or(1_000);
    let path = |s: u64| {
        if s <= config.per_visitor_up_to {
            Path::PerVisitor
        } else {
            Path::Aggregated
        }
    };
    srm_rows.push(srm_row(
        config,
        small,
        holdout.clone(),
        0.0,
        config.srm_runs,
        path(small),
    ));
    if config.extended {
        srm_rows.push(srm_row(
            config,
            100_000,
            holdout,
            0.0,
            config.srm_runs,
            Path::Aggregated,
        ));
        srm_rows.push(srm_row(
            config,
            100_000,
            vec![0.5, 0.5],
            0.025,
            config.runs,
            Path::Aggregated,
        ));
        srm_rows.push(srm_row(
            config,
            700_000,
            vec![0.5, 0.5],
            0.01,
            config.runs,
            Path::Aggregated,
        ));
    }
    Report {
        config: config.clone(),
        sizes,
        srm: srm_rows,
        planned: if config.extended { planned_row(config) } else { None },
    }
}

/// Number of daily looks (for the table's text).
pub const DAILY_LOOKS: usize = LOOKS;

#[cfg(test)]
mod tests {
    use super::*;

    /// Three binomial standard errors of a share `p` over `n` runs: the tolerance of a small run.
    fn tolerance(p: f64, n: u32) -> f64 {
        3.0 * (p * (1.0 - p) / f64::from(n)).sqrt()
    }

    #[test]
    fn a_small_simulation_meets_the_targets_and_the_negative_control_fires() {
        // 10³ per arm visitor by visitor (HLL sketches for the negative control; k suppresses most
        // looks at this size), 10⁴ per arm aggregated (where the intervals have work to do; its
        // sketches are tested in `model`).
        let runs = 200;
        let config = Config {
            sizes: vec![1_000, 10_000],
            runs,
            srm_runs: runs,
            per_visitor_up_to: 1_000,
            negative_control_up_to: 1_000,
            extended: false,
            ..Config::default()
        };
        let report = simulate(&config);
        let (small, large) = (&report.sizes[0], &report.sizes[1]);
        assert_eq!((small.path, large.path), (Path::PerVisitor, Path::Aggregated));
        let negative = small.negative_control.unwrap_or(0.0);
        assert!(negative >= 0.15, "the simulator must show today's failure: {report}");
        assert_eq!(large.negative_control, None, "not asked for at this size");
        for row in [small, large] {
            assert!(row.false_positives <= 0.064 + tolerance(0.064, runs), "{report}");
            assert!(row.coverage_aa >= 0.936 - tolerance(0.936, runs), "{report}");
            assert!(row.coverage_ab >= 0.936 - tolerance(0.936, runs), "{report}");
            assert!(row.srm_false_flags <= 0.001 + tolerance(0.001, 2 * runs), "{report}");
        }
        assert!(large.power_sequential > 0.5 && large.power_fixed > 0.5, "{report}");
        assert!(
            large.peeking_false_positives > 0.15,
            "reading a fixed-horizon test daily fails: {report}"
        );
        assert!(report.srm[0].flagged <= 0.001 + tolerance(0.001, runs), "{report}");
    }

    #[test]
    fn the_same_seed_gives_the_same_report() {
        let config = Config {
            sizes: vec![200],
            runs: 20,
            srm_runs: 20,
            extended: false,
            ..Config::default()
        };
        assert_eq!(simulate(&config), simulate(&config));
    }
}
