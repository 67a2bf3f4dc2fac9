//! The planned size: visitors per arm at which a test reaches 80% power for the planned effect,
//! found numerically (the count variance does not shrink with n, so there is no closed form), and
//! the tuning of the sequential test that the plan fixes before any data is seen.

use super::compare::{rate_variance, Test};
use super::input::{Method, Plan};
use super::normal;
use super::sequential;

/// Power the planned size aims at.
pub const POWER: f64 = 0.8;
/// Relative effect assumed when the plan names none.
pub const DEFAULT_MDE: f64 = 0.10;
/// Largest size searched: beyond it the effect is not detectable in practice.
const MAX_PER_ARM: f64 = 1e12;

/// The approximate power of `test` at `level` with `n` units per arm, for a control rate
/// `baseline` and an arm at `baseline · (1 + mde)`: P(the interval excludes 0 on the right side).
pub fn power(test: Test, level: f64, baseline: f64, mde: f64, n: f64, count_variance: f64) -> f64 {
    let treated = (baseline * (1.0 + mde)).clamp(0.0, 1.0);
    let delta = (treated - baseline).abs();
    let se = (rate_variance(baseline, n, count_variance) + rate_variance(treated, n, count_variance)).sqrt();
    if se <= 0.0 || !se.is_finite() {
        return 0.0;
    }
    let half = match test {
        Test::Sequential { rho } => sequential::halfwidth(se, 2.0 * n, rho, level),
        Test::FixedHorizon => normal::quantile(1.0 - level / 2.0) * se,
    };
    normal::cdf((delta - half) / se)
}

/// Smallest n per arm with `power(n) ≥ 0.8`, by bisection on log n; `test_at(n)` gives the test
/// used at n (the sequential test's ρ may depend on n when the plan sets the tuning to 2n).
fn solve(test_at: impl Fn(f64) -> Test, level: f64, baseline: f64, mde: f64, count_variance: f64) -> Option<u64> {
    if !(baseline > 0.0 && baseline < 1.0 && mde.is_finite() && mde != 0.0 && level > 0.0 && level < 1.0) {
        return None;
    }
    let at = |n: f64| power(test_at(n), level, baseline, mde, n, count_variance);
    if at(MAX_PER_ARM) < POWER {
        return None;
    }
    let (mut lo, mut hi) = (1.0f64.ln(), MAX_PER_ARM.ln());
    // 64 halvings of ln(10¹²) reach the precision of an f64.
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if at(mid.exp()) >= POWER {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi.exp().ceil() as u64)
}

/// The sequential test's tuning (total units where its interval is tightest): twice the planned
/// size per arm when the plan gives both a baseline and an effect (solved with the tuning tied to
/// n), else [`sequential::DEFAULT_TUNING`]. Fixed by the plan, never by the data, as the sequence's
/// validity needs.
pub fn tuning(plan: &Plan, alpha: f64, level: f64, count_variance: f64) -> f64 {
    let (Some(baseline), Some(mde)) = (plan.baseline_rate, plan.minimum_detectable_effect) else {
        return sequential::DEFAULT_TUNING;
    };
    let test_at = |n: f64| Test::Sequential {
        rho: sequential::rho(alpha, 2.0 * n),
    };
    solve(test_at, level, baseline, mde, count_variance).map_or(sequential::DEFAULT_TUNING, |n| 2.0 * n as f64)
}

/// Visitors per arm at which `method` reaches 80% power at `level` (α over the number of
/// comparisons: Holm's first step), with the sequential test's `rho`.
pub fn planned_per_arm(
    method: Method,
    rho: f64,
    level: f64,
    baseline: f64,
    mde: f64,
    count_variance: f64,
) -> Option<u64> {
    let test = match method {
        Method::Sequential => Test::Sequential { rho },
        Method::FixedHorizon => Test::FixedHorizon,
    };
    solve(|_| test, level, baseline, mde, count_variance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_horizon_matches_the_textbook_formula() {
        // n = (z.975 + z.8)² (p0 q0 + p1 q1) / δ² = 7.8489 · (.0475 + .05198) / .005² = 31,231.
        let n = planned_per_arm(Method::FixedHorizon, 0.0, 0.05, 0.05, 0.10, 0.0).unwrap();
        assert!((31_150..=31_300).contains(&n), "{n}");
    }

    #[test]
    fn the_sequential_test_needs_more_and_noise_needs_more_still() {
        let plan = Plan {
            primary_goal: None,
            baseline_rate: Some(0.05),
            minimum_detectable_effect: Some(0.10),
        };
        let tau = tuning(&plan, 0.05, 0.05, 0.0);
        let rho = sequential::rho(0.05, tau);
        let seq = planned_per_arm(Method::Sequential, rho, 0.05, 0.05, 0.10, 0.0).unwrap();
        // Tuned at 2n the multiplier is 3.03: (3.03 + 0.84)² · 0.09948 / 0.005² ≈ 59,600.
        assert!((59_000..=60_500).contains(&seq), "{seq}");
        assert!((tau / 2.0 - seq as f64).abs() <= 2.0, "tuned where it is planned");
        let noisy = planned_per_arm(Method::Sequential, rho, 0.05, 0.05, 0.10, 208.0).unwrap();
        assert!(noisy > seq);
        assert_eq!(planned_per_arm(Method::Sequential, rho, 0.05, 0.0, 0.10, 0.0), None);
        assert_eq!(tuning(&Plan::default(), 0.05, 0.05, 0.0), sequential::DEFAULT_TUNING);
    }
}
