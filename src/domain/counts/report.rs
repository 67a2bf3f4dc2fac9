//! Report helpers: calendar dates, k-anonymous release with discrete Laplace noise, and the
//! statistics of an experiment arm against its control.

use rand::Rng;
use time::{Date, Month};

/// Longest report range, in days.
pub const MAX_RANGE_DAYS: i64 = 400;

/// Julian day number of 1970-01-01, the day every stored day number counts from.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// `YYYY-MM-DD` of a day number (days since 1970-01-01), clamped to years -9999..=9999.
pub fn civil_from_days(day: i64) -> String {
    let julian = (day + UNIX_EPOCH_JULIAN_DAY).clamp(
        i64::from(Date::MIN.to_julian_day()),
        i64::from(Date::MAX.to_julian_day()),
    );
    let date = Date::from_julian_day(julian as i32).unwrap_or(Date::MIN);
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// Parses `YYYY-MM-DD` strictly (the date must exist) into a day number.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !s.bytes().filter(|c| *c != b'-').all(|c| c.is_ascii_digit()) {
        return None;
    }
    let y: i32 = s[..4].parse().ok()?;
    let m = Month::try_from(s[5..7].parse::<u8>().ok()?).ok()?;
    let d: u8 = s[8..10].parse().ok()?;
    let date = Date::from_calendar_date(y, m, d).ok()?;
    Some(i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY)
}

/// What stands behind a count: distinct visitor keys and distinct network keys (estimates).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Seen {
    /// Distinct visitor keys.
    pub visitors: f64,
    /// Distinct network keys (the largest single-week count over the range).
    pub networks: f64,
}

/// The k-anonymity test, the one place it is written: at least `k` distinct visitors and at least
/// `k` distinct networks, so one client inventing visitor ids cannot meet it alone. Reports and the
/// RTB release set both ask here.
pub fn k_anonymous(k: u64, seen: Seen) -> bool {
    seen.visitors.round() >= k as f64 && seen.networks.round() >= k as f64
}

/// Releases counts: suppression below `k`, then optional discrete Laplace noise on top.
#[derive(Debug, Clone, Copy)]
pub struct Release {
    /// Minimum distinct visitors and distinct networks.
    pub k: u64,
    /// Privacy budget per released count; 0 = no noise.
    pub epsilon: f64,
}

impl Release {
    /// Whether a count with this support may be shown ([`k_anonymous`]).
    pub fn allowed(&self, seen: Seen) -> bool {
        k_anonymous(self.k, seen)
    }

    /// A count as released: rounded, with discrete Laplace noise of scale `sensitivity / epsilon`
    /// when epsilon > 0, clamped at 0.
    pub fn count(&self, value: f64, sensitivity: f64) -> i64 {
        let v = value.round() as i64;
        if self.epsilon <= 0.0 {
            return v;
        }
        (v + discrete_laplace(sensitivity / self.epsilon)).max(0)
    }
}

/// A draw from the discrete Laplace distribution P(x) ∝ exp(-|x| / scale): the difference of two
/// geometric variables, each drawn by Bernoulli trials from the thread's CSPRNG (ChaCha, OS-seeded),
/// never by transforming a continuous Laplace sample.
pub fn discrete_laplace(scale: f64) -> i64 {
    let q = (-1.0 / scale).exp();
    let mut rng = rand::rng();
    let mut geometric = || {
        let mut n = 0i64;
        // The cap only bounds pathological scales; at scale 100 it is 10^6/100 standard deviations out.
        while n < 1_000_000 && rng.random::<f64>() < q {
            n += 1;
        }
        n
    };
    geometric() - geometric()
}

/// One arm against the control: rate, lift, 95% interval of the difference, two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmStats {
    /// conversions / exposures.
    pub rate: f64,
    /// (rate − control rate) / control rate; `None` when the control rate is 0.
    pub lift: Option<f64>,
    /// 95% Wald interval of rate − control rate.
    pub ci95: (f64, f64),
    /// Two-proportion z-test (pooled), two-sided.
    pub p_value: Option<f64>,
}

/// Statistics of an arm with `x1` conversions of `n1` exposures against a control with `x0` of `n0`.
pub fn compare(x1: f64, n1: f64, x0: f64, n0: f64) -> Option<ArmStats> {
    if n1 <= 0.0 || n0 <= 0.0 {
        return None;
    }
    let (p1, p0) = ((x1 / n1).clamp(0.0, 1.0), (x0 / n0).clamp(0.0, 1.0));
    let diff = p1 - p0;
    let se = (p1 * (1.0 - p1) / n1 + p0 * (1.0 - p0) / n0).sqrt();
    let pooled = ((x1 + x0) / (n1 + n0)).clamp(0.0, 1.0);
    let se_pooled = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)).sqrt();
    let p_value = (se_pooled > 0.0).then(|| 2.0 * (1.0 - normal_cdf((diff / se_pooled).abs())));
    Some(ArmStats {
        rate: p1,
        lift: (p0 > 0.0).then(|| diff / p0),
        ci95: (diff - 1.96 * se, diff + 1.96 * se),
        p_value,
    })
}

/// Standard normal CDF via Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_needs_both_visitors_and_networks() {
        let seen = |visitors, networks| Seen { visitors, networks };
        assert!(k_anonymous(50, seen(50.0, 50.0)));
        assert!(k_anonymous(50, seen(49.6, 812.0)));
        assert!(
            !k_anonymous(50, seen(50.0, 1.0)),
            "invented visitor ids from one network"
        );
        assert!(!k_anonymous(50, seen(3.0, 50.0)));
        assert!(!k_anonymous(1, seen(0.0, 0.0)));
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(civil_from_days(0), "1970-01-01");
        assert_eq!(parse_date("2026-11-22"), Some(20_779));
        assert_eq!(civil_from_days(20_779), "2026-11-22");
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(civil_from_days(19_782), "2024-02-29");
        assert_eq!(civil_from_days(-1), "1969-12-31");
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "2026-00-10",
            "2023-02-29",
            "26-11-22",
            "2026/11/22",
            "2026-11-2x",
            "+026-11-22",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn statistics_match_a_hand_computation() {
        // 120/1000 vs 100/1000: diff 0.02, pooled p 0.11, se 0.013993, z 1.4293, p ≈ 0.1529.
        let s = compare(120.0, 1000.0, 100.0, 1000.0).unwrap();
        assert!((s.rate - 0.12).abs() < 1e-12);
        assert!((s.lift.unwrap() - 0.2).abs() < 1e-12);
        assert!((s.p_value.unwrap() - 0.1529).abs() < 1e-3, "{s:?}");
        assert!(s.ci95.0 < 0.02 && s.ci95.1 > 0.02);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
    }

    #[test]
    fn noise_is_centred_with_the_right_spread() {
        let n = 20_000;
        let draws: Vec<i64> = (0..n).map(|_| discrete_laplace(2.0)).collect();
        let mean = draws.iter().sum::<i64>() as f64 / n as f64;
        let var = draws.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        // Variance of the discrete Laplace with q = e^(-1/2): 2q/(1-q)^2 ≈ 7.83.
        let q = (-0.5f64).exp();
        let want = 2.0 * q / (1.0 - q).powi(2);
        assert!(mean.abs() < 0.15, "mean {mean}");
        assert!((var - want).abs() / want < 0.1, "var {var} want {want}");
    }
}
