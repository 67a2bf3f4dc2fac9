//! The traffic of one simulated experiment: visitors arrive over 28 days, come back on later
//! days, convert (at most once per goal) some days after exposure with varied propensities; the
//! result is each arm's cumulative exact counts at the end of every day, either counted visitor by
//! visitor through `unit_hash` and `UnitSet` (and HyperLogLog sketches for the negative control),
//! or drawn as per-day binomial counts at sizes where that is too slow (the negative control's
//! sketches then take as many fresh random keys as the day's new units: a sketch's error depends
//! only on how many distinct keys it holds).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::sampling::{binomial, multinomial};
use crate::domain::counts::exact::{unit_hash, UnitSet};
use crate::domain::counts::Sketch;

/// Daily looks.
pub const LOOKS: usize = 28;
/// Conversion delay: d days after exposure with weight 2⁻ᵈ, d = 0..6 (mean ≈ 1 day).
pub const DELAY_WEIGHTS: [f64; 7] = [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625];
/// Propensity multipliers, equally likely (mean 1): some visitors convert 9× as often as others.
pub const PROPENSITY: [f64; 5] = [0.2, 0.6, 1.0, 1.4, 1.8];
/// Looks at which the HyperLogLog estimates are read (the negative control's).
pub const HLL_LOOKS: usize = 14;
/// Visits after the first, drawn uniformly from 0..=3, each on a later day.
pub const MAX_RETURNS: u32 = 3;

/// The arms of a simulated experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Arms {
    /// Configured shares (control first), summing to 1.
    pub shares: Vec<f64>,
    /// True conversion rate of each arm.
    pub rates: Vec<f64>,
    /// Share of each arm's visitors whose exposure is recorded (1 = no loss; 0.975 = SRM).
    pub kept: Vec<f64>,
}

/// One arm's cumulative counts at the end of a day.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ArmCounts {
    /// Exposed units (exact).
    pub exposures: u64,
    /// Distinct networks of the exposed units.
    pub exposure_networks: f64,
    /// Converted units (exact).
    pub converters: u64,
    /// Distinct networks of the converted units.
    pub converter_networks: f64,
    /// HyperLogLog estimates of exposures and converters, for the first [`HLL_LOOKS`] looks of a
    /// run that asked for them.
    pub hll: Option<(f64, f64)>,
}

/// P(converted by `days` after exposure | converts).
fn delay_cdf(days: usize) -> f64 {
    let total: f64 = DELAY_WEIGHTS.iter().sum();
    DELAY_WEIGHTS.iter().take(days + 1).sum::<f64>() / total
}

/// The expected difference of observed rates (arm − control) at the end of day `look`: each
/// arrival so far (uniform over days 0..=look) has converted with probability rate × P(delay ≤
/// look − arrival). What the intervals should hold.
pub fn true_diff(arms: &Arms, arm: usize, look: usize) -> f64 {
    let seen: f64 = (0..=look).map(|a| delay_cdf(look - a)).sum::<f64>() / (look + 1) as f64;
    (arms.rates[arm] - arms.rates[0]) * seen
}

/// Expected distinct networks among `n` units spread uniformly over `networks` /24s.
fn distinct_networks(n: u64, networks: u64) -> f64 {
    let m = networks as f64;
    m * (1.0 - (-(n as f64) / m).exp())
}

/// A delay drawn from [`DELAY_WEIGHTS`].
fn delay<R: Rng>(rng: &mut R) -> usize {
    let total: f64 = DELAY_WEIGHTS.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (d, w) in DELAY_WEIGHTS.iter().enumerate() {
        if u < *w {
            return d;
        }
        u -= w;
    }
    DELAY_WEIGHTS.len() - 1
}

/// An arm drawn by the configured shares.
fn pick<R: Rng>(rng: &mut R, shares: &[f64]) -> usize {
    let mut u = rng.random::<f64>();
    for (i, s) in shares.iter().enumerate() {
        if u < *s {
            return i;
        }
        u -= s;
    }
    shares.len() - 1
}

/// A visitor seen on a day: arm, unit, network, index of its key, whether it is a conversion.
type Event = (usize, u64, u64, u32, bool);

/// Visitor by visitor: `total` visitors over all arms, each a random 32-byte key counted through
/// [`unit_hash`] into per-arm [`UnitSet`]s on each day it is seen (returns count once), its /24 among
/// `networks`; with `hll`, also into HyperLogLog sketches as today's reports count.
pub fn per_visitor<R: Rng>(rng: &mut R, total: u64, arms: &Arms, networks: u64, hll: bool) -> Vec<Vec<ArmCounts>> {
    let experiment_key: [u8; 32] = rng.random();
    let k = arms.shares.len();
    let mut events: Vec<Vec<Event>> = vec![Vec::new(); LOOKS];
    let mut keys: Vec<[u8; 32]> = Vec::new();
    for _ in 0..total {
        let arm = pick(rng, &arms.shares);
        if rng.random::<f64>() >= arms.kept[arm] {
            continue;
        }
        let key: [u8; 32] = rng.random();
        let unit = unit_hash(&experiment_key, &key);
        let network = rng.random_range(0..networks);
        let index = keys.len() as u32;
        keys.push(key);
        let arrival = rng.random_range(0..LOOKS);
        events[arrival].push((arm, unit, network, index, false));
        for _ in 0..rng.random_range(0..=MAX_RETURNS) {
            let day = rng.random_range(arrival..LOOKS);
            events[day].push((arm, unit, network, index, false));
        }
        let propensity = PROPENSITY[rng.random_range(0..PROPENSITY.len())];
        if rng.random::<f64>() < (arms.rates[arm] * propensity).min(1.0) {
            let day = arrival + delay(rng);
            if day < LOOKS {
                events[day].push((arm, unit, network, index, true));
            }
        }
    }
    let mut sets = vec![[UnitSet::new(), UnitSet::new(), UnitSet::new(), UnitSet::new()]; k];
    let mut sketches = vec![(Sketch::new(), Sketch::new()); if hll { k } else { 0 }];
    let mut looks = Vec::with_capacity(LOOKS);
    for day in events {
        for (arm, unit, network, index, conversion) in day {
            let at = if conversion { 2 } else { 0 };
            sets[arm][at].insert(unit);
            sets[arm][at + 1].insert(network);
            if let Some((exposures, converters)) = sketches.get_mut(arm) {
                let key = &keys[index as usize];
                if conversion {
                    converters.insert(key)
                } else {
                    exposures.insert(key)
                }
            }
        }
        let counts = (0..k)
            .map(|arm| ArmCounts {
                exposures: sets[arm][0].len(),
                exposure_networks: sets[arm][1].len() as f64,
                converters: sets[arm][2].len(),
                converter_networks: sets[arm][3].len() as f64,
                // Only the negative control's looks read the sketches (a count scans 2¹⁴ registers).
                hll: sketches
                    .get_mut(arm)
                    .filter(|_| looks.len() < HLL_LOOKS)
                    .map(|(e, c)| (e.count(), c.count())),
            })
            .collect();
        looks.push(counts);
    }
    looks
}

/// Aggregated: each arm's arrivals per day and propensity class, converters per class (binomial)
/// and their delays (multinomial) are drawn as counts; networks are their expected distinct number.
/// The same model as [`per_visitor`] without a per-visitor cost. With `hll`, the negative control's
/// sketches are fed from a generator of their own seeded by it, so asking for them changes no
/// other number of the run.
pub fn aggregated<R: Rng>(
    rng: &mut R,
    total: u64,
    arms: &Arms,
    networks: u64,
    hll: Option<u64>,
) -> Vec<Vec<ArmCounts>> {
    let k = arms.shares.len();
    let per_arm = multinomial(rng, total, &arms.shares);
    let mut new_exposures = vec![vec![0u64; LOOKS]; k];
    let mut new_converters = vec![vec![0u64; LOOKS]; k];
    for arm in 0..k {
        let kept = binomial(rng, per_arm[arm], arms.kept[arm]);
        let by_day = multinomial(rng, kept, &[1.0; LOOKS]);
        for (arrival, &n) in by_day.iter().enumerate() {
            new_exposures[arm][arrival] += n;
            for (class, &m) in multinomial(rng, n, &[1.0; PROPENSITY.len()]).iter().enumerate() {
                let converts = binomial(rng, m, (arms.rates[arm] * PROPENSITY[class]).min(1.0));
                for (d, &c) in multinomial(rng, converts, &DELAY_WEIGHTS).iter().enumerate() {
                    if arrival + d < LOOKS {
                        new_converters[arm][arrival + d] += c;
                    }
                }
            }
        }
    }
    let mut totals = vec![(0u64, 0u64); k];
    let mut keys = hll.map(StdRng::seed_from_u64);
    let mut sketches = vec![(Sketch::new(), Sketch::new()); if hll.is_some() { k } else { 0 }];
    (0..LOOKS)
        .map(|day| {
            (0..k)
                .map(|arm| {
                    totals[arm].0 += new_exposures[arm][day];
                    totals[arm].1 += new_converters[arm][day];
                    let (e, c) = totals[arm];
                    let estimates = match (keys.as_mut(), sketches.get_mut(arm)) {
                        (Some(keys), Some((exposed, converted))) if day < HLL_LOOKS => {
                            fresh_keys(keys, exposed, new_exposures[arm][day]);
                            fresh_keys(keys, converted, new_converters[arm][day]);
                            Some((exposed.count(), converted.count()))
                        }
                        _ => None,
                    };
                    ArmCounts {
                        exposures: e,
                        exposure_networks: distinct_networks(e, networks),
                        converters: c,
                        converter_networks: distinct_networks(c, networks),
                        hll: estimates,
                    }
                })
                .collect()
        })
        .collect()
}

/// Inserts `n` fresh random keys into `sketch`.
fn fresh_keys(keys: &mut StdRng, sketch: &mut Sketch, n: u64) {
    for _ in 0..n {
        sketch.insert(&keys.random());
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_negative_control_s_sketches_change_no_exact_count() {
        let arms = Arms {
            shares: vec![0.5, 0.5],
            rates: vec![0.05, 0.05],
            kept: vec![1.0, 1.0],
        };
        let plain = aggregated(&mut StdRng::seed_from_u64(9), 20_000, &arms, 200_000, None);
        let sketched = aggregated(&mut StdRng::seed_from_u64(9), 20_000, &arms, 200_000, Some(4));
        for (day, (p, s)) in plain.iter().zip(&sketched).enumerate() {
            for (p, s) in p.iter().zip(s) {
                assert_eq!((p.exposures, p.converters), (s.exposures, s.converters));
                assert_eq!(s.hll.is_some(), day < HLL_LOOKS);
                if let Some((e, c)) = s.hll {
                    // Precision 14: about 0.8% relative error; 5% allows for the small sets.
                    assert!((e / p.exposures as f64 - 1.0).abs() < 0.05, "{e} vs {}", p.exposures);
                    assert!((c / p.converters.max(1) as f64 - 1.0).abs() < 0.05 || p.converters < 100);
                }
            }
        }
    }

    #[test]
    fn both_paths_agree_on_the_model() {
        let arms = Arms {
            shares: vec![0.5, 0.5],
            rates: vec![0.05, 0.08],
            kept: vec![1.0, 1.0],
        };
        let mut rng = StdRng::seed_from_u64(3);
        let runs = 16;
        let (mut a, mut b) = (vec![0.0; 2], vec![0.0; 2]);
        for _ in 0..runs {
            let v = per_visitor(&mut rng, 10_000, &arms, 100_000, false);
            let g = aggregated(&mut rng, 10_000, &arms, 100_000, None);
            for arm in 0..2 {
                a[arm] += v[LOOKS - 1][arm].converters as f64 / v[LOOKS - 1][arm].exposures as f64 / runs as f64;
                b[arm] += g[LOOKS - 1][arm].converters as f64 / g[LOOKS - 1][arm].exposures as f64 / runs as f64;
            }
        }
        for arm in 0..2 {
            assert!((a[arm] - b[arm]).abs() < 0.006, "arm {arm}: {} vs {}", a[arm], b[arm]);
        }
        let expected = true_diff(&arms, 1, LOOKS - 1);
        assert!(
            ((a[1] - a[0]) - expected).abs() < 0.005,
            "{} vs {expected}",
            a[1] - a[0]
        );
    }
}
