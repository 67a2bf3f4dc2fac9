//! Variant bucketing (docs/architecture.md, published algorithms): published test vectors and the arm split of the example experiment.

use personify::domain::pageview::decide::bucket;
use personify::domain::privacy::VisitorKey;
use personify::domain::rules::{load_dir, Action};
use sha2::{Digest, Sha256};

fn key_from_hex(hex_key: &str) -> VisitorKey {
    let bytes: [u8; 32] = hex::decode(hex_key).unwrap().try_into().unwrap();
    VisitorKey::from_test_bytes(bytes)
}

/// Vectors computed independently with Python's hashlib:
/// `int.from_bytes(sha256(exp.encode() + b":" + key)[:8], "big") % 10000`.
#[test]
fn bucketing_matches_the_published_vectors() {
    let vectors = [
        (
            "mortgage_hero_2026q4",
            "0000000000000000000000000000000000000000000000000000000000000000",
            8596,
        ),
        (
            "mortgage_hero_2026q4",
            "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
            1063,
        ),
        (
            "mortgage_hero_2026q4",
            "7fce38c63fcf1dbb90f809bb4ecdb1458fed45780d367f3ab4032f3c73e5f86b",
            6041,
        ),
        (
            "mortgage_hero_2026q4",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            5803,
        ),
        (
            "exp-a",
            "0000000000000000000000000000000000000000000000000000000000000000",
            7767,
        ),
        (
            "exp-a",
            "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
            1020,
        ),
        (
            "exp-a",
            "7fce38c63fcf1dbb90f809bb4ecdb1458fed45780d367f3ab4032f3c73e5f86b",
            7238,
        ),
        (
            "exp-a",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            1765,
        ),
    ];
    for (exp, key, want) in vectors {
        assert_eq!(bucket(exp, &key_from_hex(key)), want, "{exp} {key}");
    }
}

#[test]
fn holdout_comes_first_then_arms_by_cumulative_weight() {
    let rules = load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("segment_rules")).unwrap();
    let (_, _, exp) = rules.experiments().next().unwrap();
    assert_eq!(exp.holdout_bp, 1000);
    assert_eq!(exp.arm_for_bucket(0), None);
    assert_eq!(exp.arm_for_bucket(999), None);
    assert_eq!(exp.arm_for_bucket(1000), Some(0));
    assert_eq!(exp.arm_for_bucket(5499), Some(0));
    assert_eq!(exp.arm_for_bucket(5500), Some(1));
    assert_eq!(exp.arm_for_bucket(9999), Some(1));
}

#[test]
fn arm_split_is_within_two_percent_of_the_weights_over_100k_keys() {
    let rules = load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("segment_rules")).unwrap();
    let (slot, rule, exp) = rules.experiments().next().unwrap();
    assert!(matches!(rule.action, Action::Experiment(_)));
    let n = 100_000u32;
    let mut holdout = 0u32;
    let mut arms = vec![0u32; exp.arms.len()];
    for i in 0..n {
        let key = VisitorKey::from_test_bytes(Sha256::digest(format!("visitor-{i}")).into());
        match exp.arm_for_bucket(bucket(&exp.id, &key)) {
            None => holdout += 1,
            Some(a) => arms[a] += 1,
        }
    }
    let share = |c: u32| f64::from(c) / f64::from(n) * 100.0;
    let holdout_pct = f64::from(exp.holdout_bp) / 100.0;
    assert!(
        (share(holdout) - holdout_pct).abs() < 2.0,
        "holdout {}%",
        share(holdout)
    );
    for (arm, count) in exp.arms.iter().zip(&arms) {
        let want = (100.0 - holdout_pct) * f64::from(arm.weight) / 100.0;
        let got = share(*count);
        assert!(
            (got - want).abs() < 2.0,
            "{} got {got}% want {want}%",
            slot.variants[arm.variant].id
        );
    }
}

#[test]
fn answers_rendered_at_load_name_the_arm_and_its_content() {
    let rules = load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("segment_rules")).unwrap();
    let (slot, _, exp) = rules.experiments().next().unwrap();
    let json = |arm: Option<usize>| -> serde_json::Value { serde_json::from_str(exp.rendered(arm).get()).unwrap() };
    for (a, arm) in exp.arms.iter().enumerate() {
        let v = &slot.variants[arm.variant];
        let got = json(Some(a));
        assert_eq!(got["variant"], v.id.as_str());
        assert_eq!(got["experiment"]["id"], exp.id.as_str());
        assert_eq!(got["experiment"]["arm"], v.id.as_str());
        assert_eq!(
            got["content"],
            serde_json::from_str::<serde_json::Value>(v.content.get()).unwrap()
        );
    }
    let holdout = json(None);
    assert_eq!(holdout["variant"], slot.variants[slot.default].id.as_str());
    assert_eq!(holdout["experiment"]["arm"], "holdout");
    let plain: serde_json::Value = serde_json::from_str(slot.variants[0].rendered.get()).unwrap();
    assert!(plain.get("experiment").is_none(), "{plain}");
}
