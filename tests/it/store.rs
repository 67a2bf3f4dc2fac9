//! The `Store` contract, written against the trait so every backend runs the same suite.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use personify::domain::consent::Purposes;
use personify::domain::ledger::entry::{Action, Change, ReceiptId};
use personify::domain::ledger::fetched::{inclusion_keys, root_keys};
use personify::domain::ledger::merkle::{inclusion_proof, root, verify_inclusion, MemoryTree};
use personify::domain::privacy::{utc_day, ConsentSubject};
use personify::store::{self, Replayed, Store, StoredRecord, SubjectRange};

use crate::helpers::*;

fn subject(n: u8) -> ConsentSubject {
    ConsentSubject::from_hex(&hex::encode([n; 32])).unwrap()
}

fn change(n: u8, action: Action, purposes: Purposes) -> Change {
    Change {
        receipt_id: ReceiptId::fresh(),
        recorded_at: 1_795_000_000_000,
        subject: subject(n),
        nonce: [n; 16],
        action,
        purposes,
        source: "cmp".into(),
        policy_version: "2026-11".into(),
    }
}

async fn records(store: &dyn Store) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    let all = SubjectRange {
        from: String::new(),
        to: None,
    };
    store.consent_records(&all, &mut |r| out.push(r)).await.unwrap();
    out.sort_by(|a, b| a.subject.cmp(&b.subject));
    out
}

/// The suite every backend must pass.
async fn store_contract(store: Arc<dyn Store>) {
    // The audit trail: appended in order, paged by seq.
    let first = store.append_audit("analyst", "preview_minted").await.unwrap();
    let second = store.append_audit("admin", "consent_exported").await.unwrap();
    assert!(second > first);
    let page = store.audit_log(0, 10).await.unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(
        (page[0].actor.as_str(), page[0].action.as_str()),
        ("analyst", "preview_minted")
    );
    assert!(page[0].recorded_at > 0);
    assert_eq!(store.audit_log(first, 10).await.unwrap()[0].seq, second);
    assert!(store.audit_log(second, 10).await.unwrap().is_empty());

    // Secrets: the first writer wins, later candidates are ignored.
    let a = store.secret("s", [1; 32]).await.unwrap();
    let b = store.secret("s", [2; 32]).await.unwrap();
    assert_eq!((a, b), ([1; 32], [1; 32]));

    // Salts: per day, first writer wins, purge removes older days only.
    assert_eq!(store.salt(100, [3; 32]).await.unwrap(), [3; 32]);
    assert_eq!(store.salt(100, [4; 32]).await.unwrap(), [3; 32]);
    store.salt(101, [5; 32]).await.unwrap();
    store.salt(102, [6; 32]).await.unwrap();
    assert_eq!(store.purge_salts_before(101).await.unwrap(), 1);
    assert_eq!(store.salt_days().await.unwrap(), [101, 102]);

    // Network salts: per ISO week, first writer wins, purge removes older weeks only.
    assert_eq!(store.network_salt(10, [3; 32]).await.unwrap(), [3; 32]);
    assert_eq!(store.network_salt(10, [4; 32]).await.unwrap(), [3; 32]);
    assert_eq!(store.network_salt(11, [5; 32]).await.unwrap(), [5; 32]);
    assert_eq!(store.purge_network_salts_before(11).await.unwrap(), 1);
    assert_eq!(store.network_salt(11, [6; 32]).await.unwrap(), [5; 32]);
    // Week 10's salt is gone for good: asking again creates a new one.
    assert_eq!(store.network_salt(10, [7; 32]).await.unwrap(), [7; 32]);

    // The log is a Merkle tree: entries get consecutive indices, and the current record follows
    // the latest change (within one batch too).
    let first = store
        .append_consent(vec![
            change(7, Action::Consent, Purposes::ALL),
            change(
                8,
                Action::Consent,
                Purposes {
                    measure: true,
                    ..Purposes::NONE
                },
            ),
        ])
        .await
        .unwrap();
    let third = store
        .append_consent(vec![change(7, Action::OptOut, Purposes::NONE)])
        .await
        .unwrap();
    let all: Vec<_> = first.iter().chain(third.iter()).cloned().collect();
    assert_eq!(all.iter().map(|e| e.index).collect::<Vec<_>>(), [0, 1, 2]);
    let log = store.consent_log(0, 10).await.unwrap();
    assert_eq!(log.iter().map(|r| r.entry.clone()).collect::<Vec<_>>(), all);
    assert_eq!(log[1].subject, Some((hex::encode([8u8; 32]), vec![8u8; 16])));
    assert_eq!(store.consent_log(1, 1).await.unwrap()[0].entry, all[1]);
    assert_eq!(
        store.consent_log_for(&subject(7)).await.unwrap(),
        vec![all[0].clone(), all[2].clone()]
    );
    assert_eq!(
        store.consent_receipt(&all[1].receipt_id).await.unwrap(),
        Some(all[1].clone())
    );
    assert_eq!(store.consent_receipt("0000").await.unwrap(), None);
    let recs = records(store.as_ref()).await;
    assert_eq!(recs.len(), 2);
    assert!(recs[0].opted_out && recs[0].purposes == Purposes::NONE && recs[0].pos == 2);
    assert!(!recs[1].opted_out && recs[1].purposes.measure && recs[1].pos == 1);
    assert_eq!(store.consent_counts().await.unwrap(), (3, 2, 1));
    store.ping().await.unwrap();

    // Concurrent batches never fork the tree: the stored subtrees give the same root and proofs as
    // the tree rebuilt from the leaves.
    let mut tasks = Vec::new();
    for i in 0..20u8 {
        let s = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            s.append_consent(
                (0..3)
                    .map(|_| change(100 + i, Action::Consent, Purposes::ALL))
                    .collect(),
            )
            .await
            .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.consent_size().await.unwrap(), 63);
    let mut tree = MemoryTree::new();
    for r in store.consent_log(0, 1000).await.unwrap() {
        assert_eq!(r.entry.recomputed_hash(), Some(r.entry.leaf_hash));
        tree.push(r.entry.leaf_hash);
    }
    let fetched = store.consent_subtrees(&root_keys(63)).await.unwrap();
    assert_eq!(root(&fetched, 63).unwrap(), root(&tree, 63).unwrap());
    let fetched = store.consent_subtrees(&inclusion_keys(17, 63)).await.unwrap();
    let path = inclusion_proof(&fetched, 17, 63).unwrap();
    assert_eq!(path, inclusion_proof(&tree, 17, 63).unwrap());
    let leaf = store.consent_log(17, 1).await.unwrap()[0].entry.leaf_hash;
    assert!(verify_inclusion(&leaf, 17, 63, &path, &root(&tree, 63).unwrap()));

    // Replay (what a start rebuilds the book from): by index range, in log order, each entry as the
    // record it sets.
    let replayed = store.consent_replay(0, 63).await.unwrap();
    assert_eq!(
        replayed.iter().map(|r| r.index).collect::<Vec<_>>(),
        (0..63).collect::<Vec<_>>()
    );
    assert_eq!(
        replayed[0],
        Replayed {
            index: 0,
            subject: subject(7),
            purposes: Purposes::ALL,
            opted_out: false,
            recorded_at: 1_795_000_000_000,
        }
    );
    assert_eq!(
        (
            replayed[1].subject,
            replayed[1].purposes.measure,
            replayed[1].purposes.personalize
        ),
        (subject(8), true, false)
    );
    assert!(replayed[2].opted_out && replayed[2].purposes == Purposes::NONE);
    let some = store.consent_replay(1, 3).await.unwrap();
    assert_eq!(some, replayed[1..3]);
    assert!(store.consent_replay(5, 5).await.unwrap().is_empty());
    assert!(store.consent_replay(63, 1_000).await.unwrap().is_empty());

    // Checkpoints: issued only when the log grew; the newest and one by size are kept.
    let sign = |size: u64, root: [u8; 32]| format!("note {size} {}\n", hex::encode(root));
    let cp = store.issue_checkpoint(&sign).await.unwrap().unwrap();
    assert_eq!(cp.size, 63);
    assert!(
        store.issue_checkpoint(&sign).await.unwrap().is_none(),
        "nothing new, no checkpoint"
    );
    assert_eq!(store.checkpoint(None).await.unwrap().unwrap().note, cp.note);
    assert_eq!(store.checkpoint(Some(63)).await.unwrap().unwrap().size, 63);
    assert!(store.checkpoint(Some(5)).await.unwrap().is_none());

    // Erasure: the visitor's links go, the leaves stay, an opt-out stays as a suppression marker.
    let erased = store
        .erase_consent(&subject(7), change(7, Action::Erasure, Purposes::NONE))
        .await
        .unwrap();
    assert_eq!((erased.entries, erased.suppressed, erased.entry.index), (2, true, 63));
    assert!(store.consent_log_for(&subject(7)).await.unwrap().is_empty());
    let rows = store.consent_log(0, 1).await.unwrap();
    assert_eq!(rows[0].subject, None, "the leaf stays, unlinked");
    let marker = records(store.as_ref())
        .await
        .into_iter()
        .find(|r| r.subject == hex::encode([7u8; 32]))
        .unwrap();
    assert!(marker.erased && marker.opted_out && marker.pos == 63);
    // A visitor who had only consented leaves a tombstone, which the purge removes.
    let e = store
        .erase_consent(&subject(8), change(8, Action::Erasure, Purposes::NONE))
        .await
        .unwrap();
    assert!(!e.suppressed);
    // Markers are read by the position of their erasure: both, then only the later one.
    let markers = |after: i64, before: i64| {
        let store = Arc::clone(&store);
        async move {
            let mut out = Vec::new();
            store
                .consent_markers(after, before, &mut |r| out.push((r.pos, r.opted_out)))
                .await
                .unwrap();
            out.sort_unstable();
            out
        }
    };
    assert_eq!(markers(-1, 65).await, [(63, true), (64, false)]);
    assert_eq!(markers(63, 65).await, [(64, false)]);
    assert!(markers(-1, 63).await.is_empty(), "before the first erasure");
    assert_eq!(store.purge_consent_tombstones(i64::MAX).await.unwrap(), 1);
    assert!(!records(store.as_ref())
        .await
        .iter()
        .any(|r| r.subject == hex::encode([8u8; 32])));
    // Erased visitors' entries are no longer replayed, nor are the erasures themselves.
    assert_eq!(
        store
            .consent_replay(0, 65)
            .await
            .unwrap()
            .iter()
            .map(|r| r.index)
            .collect::<Vec<_>>(),
        (3..63).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn sqlite_store_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&format!("sqlite://{}/nested/dir/p.db", dir.path().display()))
        .await
        .unwrap();
    store_contract(store).await;
}

#[tokio::test]
#[ignore = "needs PERSONIFY_TEST_POSTGRES_URL (see README)"]
async fn postgres_store_meets_the_contract() {
    let url = crate::helpers::pg::fresh_database().await;
    store_contract(store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn unsupported_urls_are_refused_with_a_hint() {
    let err = store::open("mysql://localhost/x").await.err().unwrap();
    assert!(err.to_string().contains("sqlite://"), "{err}");
}

#[tokio::test]
async fn salts_older_than_48_hours_are_deleted_at_start_and_todays_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/personify.db", dir.path().display());
    let today = utc_day(SystemTime::now());
    {
        let store = store::open(&url).await.unwrap();
        for day in [today - 5, today - 2, today - 1] {
            store.salt(day, [9; 32]).await.unwrap();
        }
    }
    let _app = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
    let store = store::open(&url).await.unwrap();
    let mut days = Vec::new();
    for _ in 0..50 {
        days = store.salt_days().await.unwrap();
        if !days.contains(&(today - 2)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(days, [today - 1, today, today + 1]);
}

#[tokio::test]
async fn past_weeks_network_salts_are_deleted_at_start_and_this_weeks_is_shared() {
    use personify::domain::privacy::network::week_of_day;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/personify.db", dir.path().display());
    let week = week_of_day(utc_day(SystemTime::now()));
    {
        let store = store::open(&url).await.unwrap();
        store.network_salt(week - 1, [9; 32]).await.unwrap();
    }
    let _app = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
    let store = store::open(&url).await.unwrap();
    // Last week's salt was deleted (a new candidate is taken); this week's and next week's exist.
    assert_eq!(store.network_salt(week - 1, [1; 32]).await.unwrap(), [1; 32]);
    assert_ne!(store.network_salt(week, [1; 32]).await.unwrap(), [1; 32]);
    assert_ne!(store.network_salt(week + 1, [1; 32]).await.unwrap(), [1; 32]);
}

/// The last good rule set: none until one is stored, then always the latest (one row).
async fn last_good_rules_contract(store: Arc<dyn Store>) {
    use personify::store::StoredRuleSet;
    assert_eq!(store.last_good_rules().await.unwrap(), None);
    let first = StoredRuleSet {
        version: "sha256:aa".into(),
        files: vec![("a.toml".into(), "# ünïcode and \"quotes\"\n[[segment]]\n".into())],
        saved_at: 1_795_000_000_000,
    };
    store.put_last_good_rules(&first).await.unwrap();
    assert_eq!(store.last_good_rules().await.unwrap(), Some(first));
    let second = StoredRuleSet {
        version: "sha256:bb".into(),
        files: vec![("a.toml".into(), "x".into()), ("b.toml".into(), "y".into())],
        saved_at: 1_795_000_000_001,
    };
    store.put_last_good_rules(&second).await.unwrap();
    assert_eq!(store.last_good_rules().await.unwrap(), Some(second));
}

#[tokio::test]
async fn sqlite_keeps_the_last_good_rule_set() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&format!("sqlite://{}/p.db", dir.path().display()))
        .await
        .unwrap();
    last_good_rules_contract(store).await;
}

#[tokio::test]
#[ignore = "needs PERSONIFY_TEST_POSTGRES_URL (see README)"]
async fn postgres_keeps_the_last_good_rule_set() {
    let url = crate::helpers::pg::fresh_database().await;
    last_good_rules_contract(store::open(&url).await.unwrap()).await;
}
