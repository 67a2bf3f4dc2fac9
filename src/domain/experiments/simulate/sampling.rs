//! Random counts for the aggregated path: binomial and multinomial draws from a seeded generator.

use rand::Rng;

use super::super::normal;

/// Below this mean the binomial is drawn exactly (geometric skips, cost ∝ the draw); above it by
/// the normal approximation, whose error there is far below the sampling error it stands for.
const EXACT_BELOW: f64 = 1_000.0;

/// A Binomial(n, p) draw.
pub fn binomial<R: Rng>(rng: &mut R, n: u64, p: f64) -> u64 {
    if n == 0 || p <= 0.0 || p.is_nan() {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    if p > 0.5 {
        return n - binomial(rng, n, 1.0 - p);
    }
    let mean = n as f64 * p;
    if mean < EXACT_BELOW {
        // Successes are the trials where the gaps between them, each geometric, land.
        let ln_q = (1.0 - p).ln();
        let (mut count, mut position) = (0u64, 0f64);
        loop {
            let u = 1.0 - rng.random::<f64>();
            position += (u.ln() / ln_q).floor() + 1.0;
            if position > n as f64 {
                return count;
            }
            count += 1;
        }
    }
    let z = normal::quantile(rng.random::<f64>().clamp(1e-300, 1.0 - 1e-16));
    (mean + z * (mean * (1.0 - p)).sqrt()).round().clamp(0.0, n as f64) as u64
}

/// A multinomial draw of `n` over `weights` (any non-negative weights, normalised here).
pub fn multinomial<R: Rng>(rng: &mut R, n: u64, weights: &[f64]) -> Vec<u64> {
    let mut left = n;
    let mut mass: f64 = weights.iter().sum();
    let mut out = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let draw = if i + 1 == weights.len() {
            left
        } else if mass > 0.0 {
            binomial(rng, left, (w / mass).clamp(0.0, 1.0))
        } else {
            0
        };
        out.push(draw);
        left -= draw;
        mass -= w;
    }
    out
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn binomial_mean_and_variance_on_both_paths() {
        let mut rng = StdRng::seed_from_u64(1);
        for (n, p) in [(200u64, 0.05), (100_000, 0.3), (50, 0.9)] {
            let draws: Vec<f64> = (0..20_000).map(|_| binomial(&mut rng, n, p) as f64).collect();
            let mean = draws.iter().sum::<f64>() / draws.len() as f64;
            let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / draws.len() as f64;
            let (want_mean, want_var) = (n as f64 * p, n as f64 * p * (1.0 - p));
            assert!(
                (mean - want_mean).abs() < 5.0 * (want_var / 20_000.0).sqrt(),
                "{n} {p}: {mean}"
            );
            assert!((var / want_var - 1.0).abs() < 0.05, "{n} {p}: {var}");
        }
        let split = multinomial(&mut rng, 1000, &[1.0, 2.0, 1.0]);
        assert_eq!(split.iter().sum::<u64>(), 1000);
    }
}
