//! Grows a store's consent log to N entries through the server's own write path
//! (`Store::append_consent`, the Merkle leaves, subtree hashes and `consent_records` the server
//! writes), in large batches, so start-up can be measured on a big log (a node with 10M
//! consent records must start in ≤ 30 s). `scripts/start-time` runs it and then times the start.
//!
//!   cargo run --release --example consent_store -- STORE_URL N [BATCH]
//!
//! STORE_URL is `sqlite://PATH` (created if missing) or `postgres://…`. Entries already in the log
//! count towards N, so a store can be grown 1M → 3M → 10M between measurements. One visitor per
//! entry (a distinct keyed-hash subject; every tenth an opt-out), random receipt ids and nonces, times
//! spread over the last 30 days. BATCH (default 5,000) entries per transaction; the server's own
//! group commit uses `consent.write_batch` = 512. Prints the build rate every million.

use std::time::Instant;

use personify::domain::consent::Purposes;
use personify::domain::ledger::entry::{Action, Change, ReceiptId};
use personify::domain::privacy::ConsentSubject;
use rand::random;

fn subject(i: u64) -> ConsentSubject {
    // Distinct and spread like an HMAC output (the book shards by these bytes).
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_le_bytes());
    b[8..16].copy_from_slice(&i.to_le_bytes());
    b[16..].copy_from_slice(&random::<[u8; 16]>());
    ConsentSubject::from_hex(&hex::encode(b)).expect("32 bytes")
}

fn change(i: u64, now_ms: i64) -> Change {
    let opt_out = i % 10 == 0;
    Change {
        receipt_id: ReceiptId::fresh(),
        recorded_at: now_ms - (i % 30) as i64 * 86_400_000,
        subject: subject(i),
        nonce: random(),
        action: if opt_out { Action::OptOut } else { Action::Consent },
        purposes: if opt_out { Purposes::NONE } else { Purposes::ALL },
        source: "banner".into(),
        policy_version: if opt_out { "-".into() } else { "2026-11".into() },
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(n)) = (args.first(), args.get(1).and_then(|v| v.parse::<u64>().ok())) else {
        eprintln!("usage: consent_store STORE_URL N [BATCH]");
        std::process::exit(2);
    };
    let batch = args.get(2).and_then(|v| v.parse::<u64>().ok()).unwrap_or(5_000).max(1);
    let store = personify::store::open(url).await?;
    let start = store.consent_size().await?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let started = Instant::now();
    let mut i = start;
    while i < n {
        let end = (i + batch).min(n);
        store
            .append_consent((i..end).map(|j| change(j, now_ms)).collect())
            .await?;
        if end / 1_000_000 > i / 1_000_000 || end == n {
            let s = started.elapsed().as_secs_f64();
            println!(
                "{end} entries ({:.0} appends/s over {s:.0} s)",
                (end - start) as f64 / s.max(1e-9)
            );
        }
        i = end;
    }
    println!(
        "log size {} (appended {} in {:.1} s)",
        store.consent_size().await?,
        n.saturating_sub(start),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
