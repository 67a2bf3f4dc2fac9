//! What counting adds to one decision (one segment sketch, one view counter, one exposure sketch),
//! and how long a flush of 1,000 segments' sketches to SQLite takes.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use personify::domain::counts::Kind;
use personify::engine::counter::Counts;
use sha2::{Digest, Sha256};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let store = rt.block_on(personify::store::open(&url)).expect("store");
    let keys: Vec<[u8; 32]> = (0u32..100_000)
        .map(|i| Sha256::digest(i.to_be_bytes()).into())
        .collect();
    let segment: Arc<str> = "mortgage_intent".into();
    let arm: Arc<str> = "mortgage_hero_2026q4/mortgage_rates".into();

    let mut group = c.benchmark_group("counts");
    group.measurement_time(Duration::from_secs(4));
    let counts = Counts::new(Arc::clone(&store), "bench".into());
    let mut i = 0usize;
    group.bench_function("per_decision", |b| {
        b.iter(|| {
            let k = &keys[i % keys.len()];
            i += 1;
            let mut batch = counts.batch();
            batch.distinct(Kind::Segment, &segment, 20_779, k);
            batch.add(Kind::Views, &segment, 20_779, 1);
            batch.distinct(Kind::Exposure, &arm, 20_779, k);
        })
    });

    let mut sketch = personify::domain::counts::Sketch::new();
    let mut j = 0usize;
    group.bench_function("sketch_insert", |b| {
        b.iter(|| {
            sketch.insert(&keys[j % keys.len()]);
            j += 1;
        })
    });

    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    let segments: Vec<Arc<str>> = (0..1000).map(|s| format!("segment_{s}").into()).collect();
    let mut day = 0i64;
    group.bench_function("flush_1000_segments", |b| {
        b.iter_batched(
            || {
                day += 1;
                let counts = Counts::new(Arc::clone(&store), "bench".into());
                for (s, seg) in segments.iter().enumerate() {
                    for k in keys.iter().skip(s * 50).take(200) {
                        counts.distinct(Kind::Segment, seg, day, k);
                    }
                    counts.add(Kind::Views, seg, day, 200);
                }
                counts
            },
            |counts| rt.block_on(counts.flush()).expect("flush"),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
