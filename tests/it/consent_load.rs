//! The consent book a node rebuilds at start (`consent::sync::load`, chunked replay queries read
//! ahead on two connections) is exactly what replaying the log one entry at a time gives: later
//! entries replace earlier ones of the same visitor across chunk boundaries, erased visitors'
//! entries are skipped and their erasure markers applied, on every backend.

use std::collections::HashMap;
use std::sync::Arc;

use personify::domain::consent::{ConsentBook, Purposes, Record};
use personify::domain::ledger::entry::{Action, Change, ReceiptId};
use personify::domain::privacy::ConsentSubject;
use personify::engine::consent::sync::load;
use personify::store::{self, Store};

/// Entries: more than two replay chunks, so chunk boundaries and read-ahead are crossed.
const ENTRIES: u32 = 20_000;
/// Visitors: each has several entries spread over the whole log.
const VISITORS: u32 = 3_000;

fn subject(v: u32) -> ConsentSubject {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&v.wrapping_mul(2_654_435_761).to_le_bytes());
    b[4..8].copy_from_slice(&v.to_le_bytes());
    ConsentSubject::from_hex(&hex::encode(b)).unwrap()
}

fn change(i: u32) -> Change {
    let opt_out = i % 7 == 0;
    Change {
        receipt_id: ReceiptId::fresh(),
        // Not in log order: the log's order decides, never the time.
        recorded_at: 1_795_000_000_000 + i64::from(i.wrapping_mul(31_337) % 100_000),
        subject: subject(i.wrapping_mul(7_919) % VISITORS),
        nonce: [(i % 251) as u8; 16],
        action: if opt_out { Action::OptOut } else { Action::Consent },
        purposes: if opt_out {
            Purposes::NONE
        } else {
            Purposes {
                personalize: i % 2 == 0,
                measure: i % 3 == 0,
                advertise: i % 5 == 0,
            }
        },
        source: "cmp".into(),
        policy_version: "2026-11".into(),
    }
}

/// The book as one entry at a time gives it: every linked entry of the audit listing in order,
/// then the erasure markers.
async fn expected(store: &dyn Store) -> HashMap<ConsentSubject, Record> {
    let mut book = HashMap::new();
    let mut from = 0;
    loop {
        let page = store.consent_log(from, 5_000).await.unwrap();
        let Some(last) = page.last() else { break };
        from = last.entry.index + 1;
        for row in page {
            if let (Some((hex, _)), true) = (row.subject, row.entry.action != Action::Erasure) {
                let record = Record {
                    purposes: row.entry.purposes,
                    opted_out: row.entry.action == Action::OptOut,
                    recorded_at: row.entry.recorded_at,
                };
                book.insert(ConsentSubject::from_hex(&hex).unwrap(), record);
            }
        }
    }
    let mut markers = Vec::new();
    store
        .consent_markers(-1, i64::MAX, &mut |r| markers.push(r))
        .await
        .unwrap();
    for m in markers {
        let s = ConsentSubject::from_hex(&m.subject).unwrap();
        if m.opted_out {
            book.insert(
                s,
                Record {
                    purposes: m.purposes,
                    opted_out: true,
                    recorded_at: m.recorded_at,
                },
            );
        } else {
            book.remove(&s);
        }
    }
    book
}

async fn the_loaded_book_is_the_replayed_log(store: Arc<dyn Store>) {
    let changes: Vec<Change> = (0..ENTRIES).map(change).collect();
    for batch in changes.chunks(2_000) {
        store.append_consent(batch.to_vec()).await.unwrap();
    }
    // Erase some visitors: opted-out ones keep a suppression marker, the others are forgotten.
    for v in (0..VISITORS).step_by(97) {
        let mut erasure = change(ENTRIES + v);
        (erasure.subject, erasure.action, erasure.purposes) = (subject(v), Action::Erasure, Purposes::NONE);
        store.erase_consent(&subject(v), erasure).await.unwrap();
    }
    // And add entries after the erasures, one of them for an erased visitor.
    store
        .append_consent(vec![change(ENTRIES + VISITORS), {
            let mut c = change(ENTRIES + VISITORS + 1);
            c.subject = subject(97);
            c
        }])
        .await
        .unwrap();

    let want = expected(store.as_ref()).await;
    let book = ConsentBook::default();
    let pos = load(store.as_ref(), &book).await.unwrap();
    assert_eq!(pos + 1, store.consent_size().await.unwrap() as i64);
    assert_eq!(book.len(), want.len());
    assert!(want.values().any(|r| r.opted_out) && want.values().any(|r| !r.opted_out));
    for (s, r) in &want {
        assert_eq!(book.get(s).as_ref(), Some(r), "{s:?}");
    }
    assert!(book.get(&subject(97)).is_some(), "an entry after an erasure counts");
    assert!(
        (0..VISITORS)
            .step_by(97)
            .skip(2)
            .any(|v| book.get(&subject(v)).is_none()),
        "an erased consent is forgotten"
    );
}

#[tokio::test]
async fn sqlite_loads_the_book_the_log_gives() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&format!("sqlite://{}/p.db", dir.path().display()))
        .await
        .unwrap();
    the_loaded_book_is_the_replayed_log(store).await;
}

#[tokio::test]
#[ignore = "needs PERSONIFY_TEST_POSTGRES_URL (see README)"]
async fn postgres_loads_the_book_the_log_gives() {
    let url = crate::helpers::pg::fresh_database().await;
    the_loaded_book_is_the_replayed_log(store::open(&url).await.unwrap()).await;
}
