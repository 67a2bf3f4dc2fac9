//! The consent ledger at scale: an inclusion proof for a log of 1,000,000 entries, made as the
//! server makes it (subtree hashes fetched from the SQLite store, then the proof computed), a
//! group-commit batch of 64 new visitors appended to that log (what a consent write costs once the
//! log is big), a whole `verify` of it, and the memory the in-memory consent book needs for
//! 1,000,000 records.
//!
//! `cargo bench --bench ledger` (the first run builds the 1M-entry store in a temp dir, about a
//! minute; `LEDGER_ENTRIES=N` for another size).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use personify::domain::consent::{ConsentBook, Purposes, Record};
use personify::domain::ledger::checkpoint::LogKey;
use personify::domain::ledger::entry::{Action, Change, ReceiptId};
use personify::domain::ledger::fetched::inclusion_keys;
use personify::domain::ledger::merkle::inclusion_proof;
use personify::domain::privacy::ConsentSubject;
use personify::store::{self, Store};

fn subject(i: u64) -> ConsentSubject {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&i.to_le_bytes());
    b[8..16].copy_from_slice(&(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_le_bytes());
    ConsentSubject::from_hex(&hex::encode(b)).expect("32 bytes")
}

fn change(i: u64) -> Change {
    Change {
        receipt_id: ReceiptId::Fresh({
            let mut r = [0u8; 16];
            r[..8].copy_from_slice(&i.to_le_bytes());
            r
        }),
        recorded_at: 1_795_000_000_000 + i as i64,
        subject: subject(i),
        nonce: [7; 16],
        action: if i % 10 == 0 { Action::OptOut } else { Action::Consent },
        purposes: Purposes::ALL,
        source: "banner".into(),
        policy_version: "2026-11".into(),
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn book_memory(n: u64) {
    let before = rss_kib();
    let book = ConsentBook::default();
    for i in 0..n {
        book.set(
            &subject(i),
            Record {
                purposes: Purposes::ALL,
                opted_out: i % 10 == 0,
                recorded_at: 1_795_000_000_000,
            },
        );
    }
    let after = rss_kib();
    eprintln!(
        "consent book: {} records, RSS +{} MiB, {:.1} bytes per record",
        book.len(),
        (after - before) / 1024,
        (after - before) as f64 * 1024.0 / n as f64
    );
}

fn bench(c: &mut Criterion) {
    let n: u64 = std::env::var("LEDGER_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    book_memory(n);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/ledger.db", dir.path().display());
    let store: Arc<dyn Store> = rt.block_on(store::open(&url)).expect("store");
    let started = Instant::now();
    rt.block_on(async {
        let mut i = 0;
        while i < n {
            let batch: Vec<Change> = (i..(i + 2_000).min(n)).map(change).collect();
            i += batch.len() as u64;
            store.append_consent(batch).await.expect("append");
        }
    });
    eprintln!(
        "built a log of {n} entries in {:.1} s (batches of 2,000)",
        started.elapsed().as_secs_f64()
    );

    let mut group = c.benchmark_group("ledger");
    group.measurement_time(Duration::from_secs(5));
    let mut leaf = 0u64;
    group.bench_function(format!("inclusion_proof_sqlite_{n}"), |b| {
        b.iter(|| {
            leaf = (leaf + 7_919) % n;
            rt.block_on(async {
                let fetched = store
                    .consent_subtrees(&inclusion_keys(leaf, n))
                    .await
                    .expect("subtrees");
                inclusion_proof(&fetched, leaf, n).expect("proof").len()
            })
        })
    });
    let mut next = n;
    group.bench_function(format!("append_64_sqlite_{n}"), |b| {
        b.iter(|| {
            let batch: Vec<Change> = (next..next + 64).map(change).collect();
            next += 64;
            rt.block_on(store.append_consent(batch)).expect("append").len()
        })
    });
    group.sample_size(10);
    let key = LogKey::from_seed("bench.example/consent-log", [1; 32]).verifier();
    group.bench_function(format!("verify_sqlite_{n}"), |b| {
        b.iter(|| {
            let v = rt
                .block_on(personify::engine::ledger::verify::verify(store.as_ref(), &key, &[]))
                .expect("verify");
            assert!(v.ok, "{v:?}");
            v.entries
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
