//! Compiling generated rule sets (`personify generate-rules`) from their TOML text, as `check`, a
//! start and a reload do (parse, locate, validate, link, index, version), and diffing two sets of
//! the same size. The sizes go to ten times the largest anyone has run (100,000 segments in
//! `scripts/rules-scale`), so a step that is not linear shows up here first. One million segments
//! take a while: `RULES_BENCH_MAX=100000` stops at 100,000.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use personify::domain::rules::diff::diff;
use personify::domain::rules::generate::generate;
use personify::domain::rules::load::load_sources;

const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

fn bench(c: &mut Criterion) {
    let max = std::env::var("RULES_BENCH_MAX")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(usize::MAX);
    let mut group = c.benchmark_group("rules");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for n in SIZES.into_iter().filter(|&n| n <= max) {
        let (old, new) = (generate(n, 1), generate(n, 2));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("compile", n), &old, |b, files| {
            b.iter(|| load_sources(files).expect("a generated set loads"))
        });
        let (a, b) = (
            load_sources(&old).expect("a generated set loads"),
            load_sources(&new).expect("a generated set loads"),
        );
        group.bench_function(BenchmarkId::new("diff", n), |bench| bench.iter(|| diff(&a, &b)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
