//! The standard normal distribution: CDF, upper tail and quantile, accurate in the far tails where
//! always-valid p-values and Holm's smallest levels live.

/// P(Z ≤ z) for a standard normal Z.
pub fn cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// P(|Z| ≥ |z|): the two-sided tail, without the cancellation of `1 − cdf`.
pub fn two_sided_tail(z: f64) -> f64 {
    libm::erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// The z with P(Z ≤ z) = p, for p in (0, 1): Acklam's rational approximation refined by one
/// Halley step on `cdf` (relative error below 1e-13). ±∞ at 1 and 0, NaN outside.
pub fn quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    let x = if p < LOW {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let e = cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert!((cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-12);
        assert!((cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((two_sided_tail(-1.959_963_984_540_054) - 0.05).abs() < 1e-12);
        // P(|Z| > 10) = 1.5239706e-23, far below what 1 − cdf can represent.
        assert!((two_sided_tail(10.0) / 1.523_970_604_832_105e-23 - 1.0).abs() < 1e-9);
        for p in [1e-12, 0.001, 0.024, 0.05, 0.3, 0.5, 0.8, 0.975, 0.999_999] {
            let z = quantile(p);
            assert!((cdf(z) - p).abs() / p.min(1.0 - p) < 1e-9, "p {p}: z {z}");
        }
        assert!((quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
        assert!(quantile(1.5).is_nan());
        assert_eq!(quantile(0.0), f64::NEG_INFINITY);
    }
}
