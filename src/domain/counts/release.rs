//! Releases computed once: a cell's noise is a keyed pseudo-random function of the cell and its
//! release number, so every node and every repeated query get the same value and averaging many
//! answers learns nothing; an experiment-to-date cell is released again only when at least k more
//! visitors and k more networks stand behind it, so two successive releases never differ by fewer
//! than k people.

use hmac::{Hmac, Mac};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Domain separation of the noise PRF: a new derivation gets a new label, never a reused one.
const NOISE_LABEL: &[u8] = b"personify-noise/v1";

/// The key of the noise PRF, shared by every node through the store.
#[derive(Clone, PartialEq, Eq)]
pub struct NoiseKey([u8; 32]);

impl NoiseKey {
    /// Wraps stored key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> NoiseKey {
        NoiseKey(bytes)
    }

    /// The key bytes, for storing.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for NoiseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoiseKey(<redacted>)")
    }
}

/// Escapes the two characters the id format gives meaning to, so any text is a field.
fn push_field(out: &mut String, field: &str) {
    for c in field.chars() {
        match c {
            '%' => out.push_str("%25"),
            '|' => out.push_str("%7C"),
            c => out.push(c),
        }
    }
}

/// The canonical id of a cell: `v1|metric|subject|goal|period`, each field with `%` and `|`
/// escaped, and the goal field empty for none or `=goal`, so distinct cells never share an id.
pub fn cell_id(metric: &str, subject: &str, goal: Option<&str>, period: &str) -> String {
    let mut out = String::with_capacity(8 + metric.len() + subject.len() + period.len());
    out.push_str("v1|");
    push_field(&mut out, metric);
    out.push('|');
    push_field(&mut out, subject);
    out.push('|');
    if let Some(goal) = goal {
        out.push('=');
        push_field(&mut out, goal);
    }
    out.push('|');
    push_field(&mut out, period);
    out
}

/// The PRF's 32-byte output for a cell and release: HMAC-SHA256(key, label ‖ 0 ‖ cell ‖ 0 ‖ release).
fn prf_seed(key: &NoiseKey, cell: &str, release: u32) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&key.0).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(NOISE_LABEL);
    mac.update(&[0]);
    mac.update(cell.as_bytes());
    mac.update(&[0]);
    mac.update(&release.to_be_bytes());
    mac.finalize().into_bytes().into()
}

/// The noise of a cell's release: a draw from the discrete Laplace distribution
/// P(x) ∝ exp(−ε|x|/Δ), whose randomness is ChaCha20 seeded by the keyed PRF of the cell and the
/// release number, so the same inputs give the same value on every node. 0 when `epsilon <= 0`.
pub fn noise(key: &NoiseKey, cell: &str, release: u32, epsilon: f64, sensitivity: f64) -> i64 {
    if epsilon <= 0.0 || epsilon.is_nan() || sensitivity <= 0.0 || sensitivity.is_nan() {
        return 0;
    }
    let mut rng = ChaCha20Rng::from_seed(prf_seed(key, cell, release));
    let q = (-epsilon / sensitivity).exp();
    if q <= 0.0 {
        return 0;
    }
    // The difference of two geometric variables with P(G ≥ n) = qⁿ is discrete Laplace; each is
    // drawn by inversion, floor(ln U / ln q), with U in (0, 1].
    let ln_q = q.ln();
    let mut geometric = || {
        let u = 1.0 - rng.random::<f64>();
        (u.ln() / ln_q).floor().min(1e12) as i64
    };
    geometric() - geometric()
}

/// The variance of [`noise`]: 2q/(1−q)² with q = exp(−ε/Δ); 0 when `epsilon <= 0`.
pub fn noise_variance(epsilon: f64, sensitivity: f64) -> f64 {
    if epsilon <= 0.0 || epsilon.is_nan() || sensitivity <= 0.0 || sensitivity.is_nan() {
        return 0.0;
    }
    let q = (-epsilon / sensitivity).exp();
    2.0 * q / (1.0 - q).powi(2)
}

/// How far a released experiment-to-date count may stand from the exact count at a look, as a
/// variance: the noise, plus the lag of a cell not yet re-released (up to k − 1 units, taken as
/// uniform: k²/12). What the analysis adds to each released count's sampling variance.
pub fn count_variance(k: u64, epsilon: f64, sensitivity: f64) -> f64 {
    let k = k as f64;
    noise_variance(epsilon, sensitivity) + k * k / 12.0
}

/// What stands behind a count: exact units and the estimated number of networks they came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Support {
    /// Distinct units (exact).
    pub visitors: u64,
    /// Distinct networks (an estimate).
    pub networks: f64,
}

/// A cell as released and stored: the value and the support it was released at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Released {
    /// Release number, from 1; the noise of each release is drawn with it.
    pub release: u32,
    /// The released value: exact count plus noise, at least 0.
    pub value: i64,
    /// Visitors behind the count when it was released.
    pub visitors: u64,
    /// Networks behind the count when it was released.
    pub networks: f64,
}

/// The release of a cell. `None`: nothing released (support below k, nothing before). With a
/// previous release, it stands unchanged unless both the visitors and the networks behind the
/// count grew by at least k since; then release `previous.release + 1`, noised with that number.
/// Closed periods (a day, an ISO week) are released once, with `previous = None`.
#[allow(clippy::too_many_arguments)]
pub fn release_cell(
    k: u64,
    key: &NoiseKey,
    cell: &str,
    epsilon: f64,
    sensitivity: f64,
    exact: u64,
    support: Support,
    previous: Option<&Released>,
) -> Option<Released> {
    let kf = k as f64;
    let release = match previous {
        None if support.visitors >= k && support.networks.round() >= kf => 1,
        None => return None,
        Some(prev)
            if support.visitors.saturating_sub(prev.visitors) >= k
                && (support.networks - prev.networks).round() >= kf =>
        {
            prev.release.saturating_add(1)
        }
        Some(prev) => return Some(*prev),
    };
    let exact = i64::try_from(exact).unwrap_or(i64::MAX);
    let value = exact
        .saturating_add(noise(key, cell, release, epsilon, sensitivity))
        .max(0);
    Some(Released {
        release,
        value,
        visitors: support.visitors,
        networks: support.networks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> NoiseKey {
        NoiseKey::from_bytes([7; 32])
    }

    #[test]
    fn cell_ids_are_injective() {
        let ids = [
            cell_id("conversions", "exp/arm", Some("goal"), "p1"),
            cell_id("conversions", "exp", Some("arm|goal"), "p1"),
            cell_id("conversions", "exp|arm", Some("goal"), "p1"),
            cell_id("conversions", "exp/arm", None, "p1"),
            cell_id("conversions", "exp/arm", Some(""), "p1"),
            cell_id("conversions", "exp/arm%7C", None, "p1"),
            cell_id("conversions", "exp/arm|", None, "p1"),
            cell_id("conversions|exp", "arm", None, "p1"),
        ];
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{ids:?}");
        assert_eq!(ids[0], "v1|conversions|exp/arm|=goal|p1");
    }

    #[test]
    fn noise_is_a_function_of_its_inputs() {
        let a = noise(&key(), "v1|views|s||2026-11-22", 1, 0.5, 1.0);
        for _ in 0..100 {
            assert_eq!(noise(&key(), "v1|views|s||2026-11-22", 1, 0.5, 1.0), a);
        }
        let others: Vec<i64> = (2..40)
            .map(|r| noise(&key(), "v1|views|s||2026-11-22", r, 0.5, 1.0))
            .collect();
        assert!(others.iter().any(|&b| b != a), "another release, another draw");
        assert_eq!(noise(&key(), "c", 1, 0.0, 1.0), 0);
        assert_eq!(noise(&key(), "c", 1, -1.0, 1.0), 0);
        assert_eq!(format!("{:?}", key()), "NoiseKey(<redacted>)");
    }

    #[test]
    fn noise_over_many_cells_is_centred_with_the_discrete_laplace_variance() {
        for (epsilon, sensitivity) in [(0.5, 1.0), (1.0, 1.0), (0.1, 2.0)] {
            let n = 40_000;
            let draws: Vec<f64> = (0..n)
                .map(|i| noise(&key(), &format!("cell{i}"), 1, epsilon, sensitivity) as f64)
                .collect();
            let mean = draws.iter().sum::<f64>() / n as f64;
            let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            let want = noise_variance(epsilon, sensitivity);
            // The standard error of the mean is sqrt(want / n); 5 of them.
            assert!(mean.abs() < 5.0 * (want / n as f64).sqrt(), "ε {epsilon}: mean {mean}");
            assert!((var - want).abs() / want < 0.06, "ε {epsilon}: var {var}, want {want}");
        }
        assert_eq!(noise_variance(0.0, 1.0), 0.0);
        // q = e^-0.5: 2q/(1-q)^2 = 7.8354.
        assert!((noise_variance(0.5, 1.0) - 7.8354).abs() < 1e-3);
    }

    fn support(visitors: u64, networks: f64) -> Support {
        Support { visitors, networks }
    }

    #[test]
    fn first_release_needs_k_visitors_and_k_networks() {
        let c = "v1|exposures|e/a||p1";
        assert_eq!(release_cell(50, &key(), c, 0.0, 1.0, 49, support(49, 49.0), None), None);
        assert_eq!(
            release_cell(50, &key(), c, 0.0, 1.0, 500, support(500, 12.0), None),
            None
        );
        let r = release_cell(50, &key(), c, 0.0, 1.0, 50, support(50, 50.0), None).unwrap();
        assert_eq!((r.release, r.value, r.visitors), (1, 50, 50));
    }

    #[test]
    fn successive_releases_never_differ_by_a_sub_k_increment() {
        let c = "v1|conversions|e/a|=g|p1";
        for epsilon in [0.0, 0.5] {
            let mut prev: Option<Released> = None;
            let mut history: Vec<Released> = Vec::new();
            // Units arrive a few at a time, networks slightly slower; a release every look.
            for step in 1..=400u64 {
                let exact = step * 3;
                let s = support(exact, exact as f64 * 0.9);
                let next = release_cell(50, &key(), c, epsilon, 1.0, exact, s, prev.as_ref());
                if let Some(r) = next {
                    if prev.map(|p| p.release) != Some(r.release) {
                        history.push(r);
                    }
                }
                prev = next;
            }
            assert!(history.len() > 10);
            for pair in history.windows(2) {
                assert_eq!(pair[1].release, pair[0].release + 1);
                assert!(pair[1].visitors - pair[0].visitors >= 50, "{pair:?}");
                assert!(pair[1].networks - pair[0].networks >= 50.0, "{pair:?}");
                if epsilon == 0.0 {
                    assert_eq!(pair[1].value as u64, pair[1].visitors, "ε = 0 releases the exact count");
                }
            }
        }
    }

    #[test]
    fn a_release_stands_until_both_supports_grow_by_k() {
        let c = "v1|exposures|e/a||p1";
        let first = release_cell(50, &key(), c, 0.5, 1.0, 100, support(100, 100.0), None).unwrap();
        let same = release_cell(50, &key(), c, 0.5, 1.0, 149, support(149, 400.0), Some(&first));
        assert_eq!(same, Some(first), "49 more visitors");
        let same = release_cell(50, &key(), c, 0.5, 1.0, 400, support(400, 149.0), Some(&first));
        assert_eq!(same, Some(first), "49 more networks");
        let next = release_cell(50, &key(), c, 0.5, 1.0, 150, support(150, 150.0), Some(&first)).unwrap();
        assert_eq!(next.release, 2);
        assert_eq!(next.value, (150 + noise(&key(), c, 2, 0.5, 1.0)).max(0));
        let again = release_cell(50, &key(), c, 0.5, 1.0, 150, support(150, 150.0), Some(&first)).unwrap();
        assert_eq!(again, next, "computed twice, released once");
    }
}
