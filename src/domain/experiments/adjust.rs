//! Multiple comparisons over every arm × goal: Holm's step-down (family-wise error) or
//! Benjamini–Hochberg's step-up (false discovery rate) adjusted p-values.

use serde::{Deserialize, Serialize};

/// How p-values are adjusted for the number of comparisons.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Adjustment {
    /// Holm (1979): controls the chance of any false positive.
    #[default]
    Holm,
    /// Benjamini–Hochberg (1995): controls the expected share of false positives.
    BenjaminiHochberg,
}

/// Adjusted p-values in the input's order; a missing p-value (a suppressed comparison) still
/// counts as a comparison, with p = 1, so suppression never makes the others look stronger.
pub fn adjust(method: Adjustment, p: &[Option<f64>]) -> Vec<Option<f64>> {
    let m = p.len();
    let full: Vec<f64> = p.iter().map(|v| v.unwrap_or(1.0).clamp(0.0, 1.0)).collect();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| full[a].total_cmp(&full[b]));
    let mut adjusted = vec![1.0; m];
    match method {
        Adjustment::Holm => {
            let mut running = 0.0f64;
            for (rank, &i) in order.iter().enumerate() {
                running = running.max(((m - rank) as f64 * full[i]).min(1.0));
                adjusted[i] = running;
            }
        }
        Adjustment::BenjaminiHochberg => {
            let mut running = 1.0f64;
            for (rank, &i) in order.iter().enumerate().rev() {
                running = running.min((m as f64 / (rank + 1) as f64 * full[i]).min(1.0));
                adjusted[i] = running;
            }
        }
    }
    p.iter().zip(adjusted).map(|(orig, a)| orig.map(|_| a)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[Option<f64>], b: &[f64]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x.unwrap() - y).abs() < 1e-12)
    }

    #[test]
    fn holm_and_bh_match_r() {
        // R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") and "BH".
        let p = [Some(0.01), Some(0.04), Some(0.03), Some(0.005)];
        assert!(close(&adjust(Adjustment::Holm, &p), &[0.03, 0.06, 0.06, 0.02]));
        assert!(close(
            &adjust(Adjustment::BenjaminiHochberg, &p),
            &[0.02, 0.04, 0.04, 0.02]
        ));
    }

    #[test]
    fn a_suppressed_comparison_still_counts() {
        let adj = adjust(Adjustment::Holm, &[Some(0.02), None]);
        assert_eq!(adj[1], None);
        assert!((adj[0].unwrap() - 0.04).abs() < 1e-12);
        assert_eq!(adjust(Adjustment::Holm, &[]), Vec::<Option<f64>>::new());
    }
}
