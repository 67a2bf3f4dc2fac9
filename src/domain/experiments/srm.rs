//! Sample ratio mismatch, sequentially: the Dirichlet–multinomial Bayes factor of Lindon & Malek
//! (2022, "Anytime-valid inference for multinomial count data") on exact exposure counts against the
//! configured split. Under the configured split the factor is a martingale with mean 1, so by
//! Ville's inequality it ever reaches 1/α with probability at most α, however often it is read.

use serde::Serialize;

/// Concentration of the Dirichlet prior, centred on the configured split: prior shares spread by
/// about √(p(1−p)/c), 0.5% at c = 10⁴ — the size of the losses worth catching (1–3% of an arm).
pub const CONCENTRATION: f64 = 10_000.0;

/// Flag at this false-flag rate: a Bayes factor of 1/0.001.
pub const SRM_ALPHA: f64 = 0.001;

/// The SRM state of an experiment at a look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Srm {
    /// Bayes factor ≥ 1/0.001: the split is not what was configured; fix before reading.
    pub flagged: bool,
    /// Evidence against the configured split (capped at f64::MAX).
    pub bayes_factor: f64,
    /// The anytime-valid p-value at this look, min(1, 1 / bayes_factor).
    pub p_value: f64,
}

/// log BF = ln Γ(c) − ln Γ(c + n) + Σ [ln Γ(c·pᵢ + xᵢ) − ln Γ(c·pᵢ)] − Σ xᵢ ln pᵢ: the
/// Dirichlet(c·p)-multinomial marginal likelihood over the multinomial likelihood at the configured
/// shares p (the multinomial coefficients cancel). Shares are normalised; an arm with share 0 and
/// units is an infinite mismatch.
pub fn log_bayes_factor(counts: &[u64], shares: &[f64]) -> f64 {
    let total_share: f64 = shares.iter().filter(|s| s.is_finite() && **s > 0.0).sum();
    if total_share <= 0.0 || counts.len() != shares.len() {
        return 0.0;
    }
    let mut log_bf = 0.0;
    let mut n = 0.0;
    for (&x, &share) in counts.iter().zip(shares) {
        let p = if share.is_finite() && share > 0.0 {
            share / total_share
        } else {
            0.0
        };
        if p == 0.0 {
            if x > 0 {
                return f64::INFINITY;
            }
            continue;
        }
        let x = x as f64;
        n += x;
        let a = CONCENTRATION * p;
        log_bf += libm::lgamma(a + x) - libm::lgamma(a) - x * p.ln();
    }
    log_bf + libm::lgamma(CONCENTRATION) - libm::lgamma(CONCENTRATION + n)
}

/// The SRM state for exact exposure counts and the configured shares (holdout included).
pub fn srm(counts: &[u64], shares: &[f64]) -> Srm {
    let log_bf = log_bayes_factor(counts, shares);
    let bayes_factor = log_bf.exp().min(f64::MAX);
    Srm {
        flagged: log_bf >= -SRM_ALPHA.ln(),
        bayes_factor,
        p_value: (-log_bf).exp().min(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correct_split_is_not_flagged_and_a_lossy_one_is() {
        let ok = srm(&[50_120, 49_880], &[0.5, 0.5]);
        assert!(!ok.flagged && ok.bayes_factor < 1.0, "{ok:?}");
        // 2.5% of one arm lost at 10⁵ per arm: z ≈ 5.6.
        let lossy = srm(&[100_000, 97_500], &[0.5, 0.5]);
        assert!(lossy.flagged && lossy.p_value < 1e-3, "{lossy:?}");
        // The holdout's share counts: 10/45/45 read as thirds would be a mismatch.
        assert!(!srm(&[10_000, 45_100, 44_900], &[0.1, 0.45, 0.45]).flagged);
        assert!(srm(&[10_000, 45_100, 44_900], &[1.0, 1.0, 1.0]).flagged);
        assert!(srm(&[10, 0], &[0.0, 1.0]).flagged, "units in an arm with no share");
    }

    #[test]
    fn matches_an_independent_computation() {
        // Python's math.lgamma over the same formula.
        for (counts, shares, want) in [
            (&[520u64, 480][..], &[0.5, 0.5][..], 0.025_076_682_404_687_745),
            (&[100_000, 97_500], &[0.5, 0.5], 13.544_381_005_922_332),
            (&[1000, 4600, 4400], &[0.1, 0.45, 0.45], 0.417_992_510_047_042_74),
        ] {
            let got = log_bayes_factor(counts, shares);
            assert!((got - want).abs() < 1e-7, "{counts:?}: {got} want {want}");
        }
    }
}
