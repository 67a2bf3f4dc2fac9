//! Always-valid inference for a difference of means: the asymptotic confidence sequence of
//! Waudby-Smith et al. (2023, "Time-uniform central limit theory and asymptotic confidence
//! sequences", eq. 155 for the p-value) in the parameterisation GrowthBook's `gbstats` uses. The
//! interval holds the true difference at every look at once with probability ≥ 1 − α (as the
//! samples grow), so an analyst may look daily; it is narrowest near `tuning` total units.
//! The choice and the formula: docs/decisions/013-experiment-statistics.md.

/// Total units (both arms) at which the sequence is tightest when no plan fixes it.
pub const DEFAULT_TUNING: f64 = 5_000.0;

/// ρ of the mixture, chosen so the sequence is tightest at `tuning` total units:
/// ρ² = (−2 ln α + ln(1 − 2 ln α)) / tuning.
pub fn rho(alpha: f64, tuning: f64) -> f64 {
    let l = -2.0 * alpha.ln();
    ((l + (l + 1.0).ln()) / tuning).sqrt()
}

/// Half-width of the sequence at level `level` for an estimate with standard error `se` over `n`
/// total units: se·√n · √(2(nρ² + 1) / (nρ)² · ln(√(nρ² + 1) / level)).
pub fn halfwidth(se: f64, n: f64, rho: f64, level: f64) -> f64 {
    let nr2 = n * rho * rho;
    let s = se * n.sqrt();
    s * (2.0 * (nr2 + 1.0) / (n * rho).powi(2) * ((nr2 + 1.0).sqrt() / level).ln()).sqrt()
}

/// The always-valid p-value 1/E, E = exp(nρ²·t² / (2(nρ² + 1))) / √(nρ² + 1), t = diff / se: the
/// smallest level at which the sequence of [`halfwidth`] (same ρ) excludes 0.
pub fn p_value(diff: f64, se: f64, n: f64, rho: f64) -> f64 {
    let nr2 = n * rho * rho;
    let t = diff / se;
    let log_e = nr2 * t * t / (2.0 * (nr2 + 1.0)) - 0.5 * (nr2 + 1.0).ln();
    (-log_e).exp().min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_excludes_zero_exactly_when_p_is_below_the_level() {
        let r = rho(0.05, 5000.0);
        for (diff, se, n) in [(0.01, 0.004, 20_000.0), (0.003, 0.001, 2e6), (-0.02, 0.006, 3_000.0)] {
            let p = p_value(diff, se, n, r);
            for level in [0.05, 0.01, 0.001, p * 0.999, p * 1.001] {
                let excludes = diff.abs() > halfwidth(se, n, r, level);
                assert_eq!(excludes, p < level, "diff {diff} se {se} n {n} level {level} p {p}");
            }
        }
    }

    #[test]
    fn wider_than_a_fixed_horizon_interval_and_tightest_near_the_tuning_size() {
        let r = rho(0.05, 5000.0);
        // At n = tuning the multiplier of se is √(2·(c+1)/c·ln(√(c+1)/α)) with c = 7.94: 3.03.
        let m = halfwidth(1.0, 5000.0, r, 0.05);
        assert!((m - 3.03).abs() < 0.01, "{m}");
        assert!(halfwidth(1.0, 500.0, r, 0.05) > m);
        assert!(halfwidth(1.0, 500_000.0, r, 0.05) > m);
        assert!(m > 1.96);
    }
}
