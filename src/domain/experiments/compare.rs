//! One arm against the control on one goal, from released counts: the difference of conversion
//! rates, its standard error with the released counts' own variance added, and the interval and
//! p-value of the sequential or the fixed-horizon test.

use super::normal;
use super::sequential;

/// Which test reads the comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Test {
    /// The asymptotic confidence sequence with this ρ (fixed before the data, from α and the plan).
    Sequential {
        /// The mixture parameter ([`sequential::rho`]).
        rho: f64,
    },
    /// The Wald z-interval and test, valid at one planned look.
    FixedHorizon,
}

/// Variance of a rate x̂/n̂ whose counts each carry `count_variance` around the exact count:
/// p(1−p)/n sampling, plus (1 + p²)·V/n² by the delta method (numerator and denominator).
pub fn rate_variance(rate: f64, n: f64, count_variance: f64) -> f64 {
    rate * (1.0 - rate) / n + (1.0 + rate * rate) * count_variance / (n * n)
}

/// An arm's rate against the control's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// The control's conversion rate.
    pub control_rate: f64,
    /// The arm's conversion rate.
    pub rate: f64,
    /// rate − control rate.
    pub diff: f64,
    /// Standard error of `diff`.
    pub se: f64,
    /// Units in both arms (the sequence's time).
    pub n: f64,
}

impl Comparison {
    /// From released counts; `None` when an arm has no exposures or the variance is 0 (nothing to
    /// say from counts that show no variation and carry no noise).
    pub fn new(
        conversions: i64,
        exposures: i64,
        control_conversions: i64,
        control_exposures: i64,
        count_variance: f64,
    ) -> Option<Comparison> {
        if exposures <= 0 || control_exposures <= 0 {
            return None;
        }
        let (n1, n0) = (exposures as f64, control_exposures as f64);
        let rate = (conversions.max(0) as f64 / n1).clamp(0.0, 1.0);
        let control_rate = (control_conversions.max(0) as f64 / n0).clamp(0.0, 1.0);
        let v = count_variance.max(0.0);
        let se = (rate_variance(rate, n1, v) + rate_variance(control_rate, n0, v)).sqrt();
        (se > 0.0 && se.is_finite()).then_some(Comparison {
            control_rate,
            rate,
            diff: rate - control_rate,
            se,
            n: n1 + n0,
        })
    }

    /// (rate − control rate) / control rate; `None` when the control rate is 0.
    pub fn lift(&self) -> Option<f64> {
        (self.control_rate > 0.0).then(|| self.diff / self.control_rate)
    }

    /// Two-sided p-value of "no difference"; below `level` exactly when [`Self::interval`] at
    /// `level` excludes 0.
    pub fn p_value(&self, test: Test) -> f64 {
        match test {
            Test::Sequential { rho } => sequential::p_value(self.diff, self.se, self.n, rho),
            Test::FixedHorizon => normal::two_sided_tail(self.diff / self.se),
        }
    }

    /// The interval of `diff` at level `level` (coverage 1 − level).
    pub fn interval(&self, test: Test, level: f64) -> [f64; 2] {
        let half = match test {
            Test::Sequential { rho } => sequential::halfwidth(self.se, self.n, rho, level),
            Test::FixedHorizon => normal::quantile(1.0 - level / 2.0) * self.se,
        };
        [self.diff - half, self.diff + half]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_horizon_matches_a_hand_computation() {
        // 120/1000 vs 100/1000: diff 0.02, se √(.12·.88/1000 + .1·.9/1000) = 0.0139857, p 0.152708.
        let c = Comparison::new(120, 1000, 100, 1000, 0.0).unwrap();
        assert!((c.se - 0.013_985_7).abs() < 1e-7);
        assert!((c.p_value(Test::FixedHorizon) - 0.152_708).abs() < 1e-6);
        let [lo, hi] = c.interval(Test::FixedHorizon, 0.05);
        assert!((lo - (0.02 - 1.959_964 * 0.013_985_7)).abs() < 1e-6);
        assert!((hi - (0.02 + 1.959_964 * 0.013_985_7)).abs() < 1e-6);
        assert!((c.lift().unwrap() - 0.2).abs() < 1e-12);
    }

    #[test]
    fn count_noise_widens_the_interval() {
        let exact = Comparison::new(500, 10_000, 450, 10_000, 0.0).unwrap();
        let noisy = Comparison::new(500, 10_000, 450, 10_000, 208.0).unwrap();
        assert!(noisy.se > exact.se);
        assert!(noisy.p_value(Test::FixedHorizon) > exact.p_value(Test::FixedHorizon));
        assert_eq!(Comparison::new(0, 100, 0, 100, 0.0), None, "no variation, no noise");
        assert_eq!(Comparison::new(1, 0, 0, 100, 1.0), None);
        assert!(
            Comparison::new(0, 100, 0, 100, 1.0).is_some(),
            "noise alone is a variance"
        );
    }
}
