//! On SQLite every write goes through one connection, so a sketch flush's experiment units (tens of
//! thousands of rows on a busy node) used to hold every consent write behind one long transaction:
//! the consent p99 of `scripts/open-loop` rose to seconds at each flush. `put_units` now commits in
//! short transactions, and a consent append asked for meanwhile takes its turn between two of them.

use std::time::Duration;

use personify::domain::consent::Purposes;
use personify::domain::ledger::entry::{Action, Change, ReceiptId};
use personify::domain::privacy::ConsentSubject;
use personify::store::experiments::UnitRow;
use personify::store::{self, Store};

/// Units of one flush: in a debug build, seconds of inserts.
const UNITS: u64 = 40_000;

async fn stored_units(store: &dyn Store) -> u64 {
    store
        .unit_counts("hero", 1)
        .await
        .unwrap()
        .iter()
        .map(|(_, _, n)| n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_append_is_not_held_behind_a_flushs_units() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&format!("sqlite://{}/p.db", dir.path().display()))
        .await
        .unwrap();
    let rows: Vec<UnitRow> = (0..UNITS)
        .map(|i| UnitRow {
            experiment: "hero".into(),
            period: 1,
            arm: if i % 2 == 0 { "a" } else { "b" }.into(),
            goal: None,
            // Spread like unit hashes, so the index takes inserts all over, as it does for real.
            unit: i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            day: 20_000,
        })
        .collect();
    let flush = tokio::spawn({
        let store = store.clone();
        async move { store.put_units(rows).await }
    });
    // Once the flush has started writing, a visitor's choice arrives.
    while stored_units(&*store).await == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let change = Change {
        receipt_id: ReceiptId::fresh(),
        recorded_at: 1_796_000_000_000,
        subject: ConsentSubject::from_hex(&"ab".repeat(32)).unwrap(),
        nonce: [7; 16],
        action: Action::Consent,
        purposes: Purposes {
            personalize: true,
            measure: true,
            advertise: false,
        },
        source: "banner".into(),
        policy_version: "2026-11".into(),
    };
    store.append_consent(vec![change]).await.unwrap();
    let when_appended = stored_units(&*store).await;
    assert!(
        when_appended < UNITS,
        "the append waited for all {UNITS} units of the flush ({when_appended} stored when it returned)"
    );
    flush.await.unwrap().unwrap();
    // Every unit is written all the same, each once.
    assert_eq!(stored_units(&*store).await, UNITS);
    assert_eq!(store.consent_log(0, 10).await.unwrap().len(), 1);
}
