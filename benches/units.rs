//! Exact experiment counting at 10⁷ units (ten times the largest simulated arm): inserting them
//! into a `UnitSet` (the in-memory delta between flushes), merging two such sets (what a flush or a
//! read across nodes does), and the unit hash itself: keyed at each call (`unit_hash`) and with the
//! experiment's key made once (`unit_key`, what the counting path does).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use personify::domain::counts::exact::{unit_hash, UnitKey, UnitSet};

const UNITS: u64 = 10_000_000;

/// Distinct, uniformly spread units, as HMAC outputs are.
fn unit(i: u64) -> u64 {
    let z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("units");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("insert_10m", |b| {
        b.iter(|| {
            let mut set = UnitSet::new();
            for i in 0..UNITS {
                set.insert(unit(i));
            }
            set
        })
    });
    let half: UnitSet = (0..UNITS / 2).map(unit).collect();
    let other: UnitSet = (UNITS / 4..UNITS * 3 / 4).map(unit).collect();
    group.bench_function("merge_5m_into_5m", |b| {
        b.iter_batched(
            || half.clone(),
            |mut set| {
                set.merge(&other);
                set
            },
            BatchSize::LargeInput,
        )
    });
    let full: UnitSet = (0..UNITS).map(unit).collect();
    println!(
        "UnitSet of {} units: ~{} MB",
        full.len(),
        full.memory_bytes() / 1_000_000
    );
    group.sample_size(100);
    group.measurement_time(Duration::from_secs(3));
    let key = [7u8; 32];
    let mut visitor = [0u8; 32];
    group.bench_function("unit_hash", |b| {
        b.iter(|| {
            visitor[0] = visitor[0].wrapping_add(1);
            unit_hash(&key, &visitor)
        })
    });
    let keyed = UnitKey::new(&key);
    group.bench_function("unit_key", |b| {
        b.iter(|| {
            visitor[0] = visitor[0].wrapping_add(1);
            keyed.unit(&visitor)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
