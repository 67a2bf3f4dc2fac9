//! Measures exact experiment counting at size: N exposures (one unit each, spread over three arms,
//! a tenth converting) held in the in-memory unit sets, flushed to a store through the server's own
//! write path (`ExperimentData::put_units`), counted back exactly (`unit_counts`), and the store's
//! size on disk. What `docs/operations/performance.md` quotes for 10M exposures.
//!
//!   cargo run --release --example experiment_units -- STORE_URL N [BATCH]
//!
//! STORE_URL is `sqlite://PATH` (created if missing) or `postgres://…` (a fresh database). BATCH
//! (default 100,000) units per flush: a busy node flushes every `counts.flush_seconds`.

use std::time::Instant;

use personify::domain::counts::exact::{unit_hash, UnitSet};
use personify::store::experiments::UnitRow;

/// Resident set size of this process in bytes (Linux).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).ok_or("usage: experiment_units STORE_URL N [BATCH]")?;
    let n: u64 = args.get(2).ok_or("N missing")?.parse()?;
    let batch: u64 = args.get(3).map_or(Ok(100_000), |b| b.parse())?;
    let arms = ["holdout", "a", "b"];
    let key = [7u8; 32];

    let before = rss();
    let started = Instant::now();
    let mut sets = vec![UnitSet::default(); arms.len() * 2];
    for i in 0..n {
        let mut visitor = [0u8; 32];
        visitor[..8].copy_from_slice(&i.to_le_bytes());
        let unit = unit_hash(&key, &visitor);
        let arm = (i % 3) as usize;
        sets[arm].insert(unit);
        if i % 10 == 0 {
            sets[arms.len() + arm].insert(unit);
        }
    }
    let held = rss().saturating_sub(before);
    println!(
        "in memory: {n} exposures hashed and held in {:.1} s, {:.0} MiB ({:.1} bytes per unit)",
        started.elapsed().as_secs_f64(),
        held as f64 / 1_048_576.0,
        held as f64 / (n + n / 10) as f64
    );

    let store = personify::store::open(url).await?;
    let started = Instant::now();
    let mut rows = Vec::with_capacity(batch as usize);
    let mut written = 0u64;
    for (i, set) in sets.iter().enumerate() {
        let arm = arms[i % arms.len()];
        let goal = (i >= arms.len()).then(|| "signup".to_string());
        for unit in set.iter() {
            rows.push(UnitRow {
                experiment: "bench".into(),
                period: 1,
                arm: arm.into(),
                goal: goal.clone(),
                unit,
                day: 20_000,
            });
            if rows.len() as u64 == batch {
                written += rows.len() as u64;
                store.put_units(std::mem::take(&mut rows)).await?;
            }
        }
    }
    written += rows.len() as u64;
    store.put_units(rows).await?;
    let flush = started.elapsed().as_secs_f64();
    println!(
        "flush: {written} unit rows in {flush:.1} s ({:.0} rows/s, batches of {batch})",
        written as f64 / flush
    );

    let started = Instant::now();
    let counts = store.unit_counts("bench", 1).await?;
    println!("count back: {:?} in {:.2} s", counts, started.elapsed().as_secs_f64());
    if let Some(path) = url.strip_prefix("sqlite://") {
        let size: u64 = ["", "-wal"]
            .iter()
            .filter_map(|s| std::fs::metadata(format!("{path}{s}")).ok())
            .map(|m| m.len())
            .sum();
        println!(
            "store: {:.0} MiB on disk ({:.1} bytes per unit row)",
            size as f64 / 1_048_576.0,
            size as f64 / written as f64
        );
    }
    Ok(())
}
