//! Grows a store's consent log to N entries through the server's own write path
//! (`Store::append_consent`, the Merkle leaves, subtree hashes and `consent_records` the server
//! writes), in large batches, so start-up can be measured on a big log (a node with 10M
//! consent records must start in ≤ 30 s). `scripts/start-time` runs it and then times the start.
//!
//!   cargo run --release --example consent_store -- STORE_URL N [BATCH] [KEY_FILE]
//!
//! STORE_URL is `sqlite://PATH` (created if missing) or `postgres://…`. Entries already in the log
//! count towards N, so a store can be grown 1M → 3M → 10M between measurements. One visitor per
//! entry (a distinct keyed-hash subject; every tenth an opt-out), random receipt ids and nonces, times
//! spread over the last 30 days. BATCH (default 5,000) entries per transaction; the server's own
//! group commit uses `consent.write_batch` = 512. Prints the build rate every million.
//!
//! With KEY_FILE (the server's `consent.log_key_file`, created if missing) it also signs a checkpoint
//! every million entries and at the end, as the server's checkpoint task does, under the default
//! `consent.log_origin`: a server started on the store with that key verifies the whole log.

use std::time::Instant;

use personify::domain::consent::Purposes;
use personify::domain::ledger::checkpoint::{Checkpoint, LogKey};
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

/// `consent.log_origin` as configured by default (config/default.toml).
const ORIGIN: &str = "personify.local/consent-log";

/// Signs a checkpoint of the log as it stands, as the server's checkpoint task does.
async fn checkpoint(store: &dyn personify::store::Store, key: &LogKey) -> Result<(), personify::store::StoreError> {
    let sign = |size: u64, root| {
        key.sign(&Checkpoint {
            origin: ORIGIN.to_string(),
            size,
            root,
        })
    };
    store.issue_checkpoint(&sign).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(n)) = (args.first(), args.get(1).and_then(|v| v.parse::<u64>().ok())) else {
        eprintln!("usage: consent_store STORE_URL N [BATCH]");
        std::process::exit(2);
    };
    let batch = args.get(2).and_then(|v| v.parse::<u64>().ok()).unwrap_or(5_000).max(1);
    let key = match args.get(3) {
        Some(path) => Some(personify::engine::ledger::key::load_or_create(
            ORIGIN,
            None,
            std::path::Path::new(path),
            None,
        )?),
        None => None,
    };
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
            if let Some(key) = &key {
                checkpoint(store.as_ref(), key).await?;
            }
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
