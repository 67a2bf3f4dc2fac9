//! The `Store` contract, written against the trait so every backend runs the same suite.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use personify::consent::log::{Action, Change, Verifier, GENESIS};
use personify::consent::Purposes;
use personify::privacy::utc_day;
use personify::store::{self, Store};

fn change(subject: u8, action: Action, purposes: Purposes) -> Change {
    Change {
        receipt_id: format!("receipt-{subject}-{}", rand_suffix()),
        recorded_at: 1_795_000_000_000,
        subject: hex::encode([subject; 32]),
        action,
        purposes,
        source: "cmp".into(),
        policy_version: "2026-11".into(),
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The suite every backend must pass.
async fn store_contract(store: Arc<dyn Store>) {
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

    // The log chains, and the current record follows the latest change.
    let e1 = store
        .append_consent(change(7, Action::Consent, Purposes::ALL))
        .await
        .unwrap();
    let e2 = store
        .append_consent(change(
            8,
            Action::Consent,
            Purposes {
                measure: true,
                ..Purposes::NONE
            },
        ))
        .await
        .unwrap();
    let e3 = store
        .append_consent(change(7, Action::OptOut, Purposes::NONE))
        .await
        .unwrap();
    assert_eq!((e1.seq, e2.seq, e3.seq), (1, 2, 3));
    assert_eq!(e1.prev_hash, GENESIS);
    assert_eq!(e2.prev_hash, e1.entry_hash);
    assert_eq!(e3.prev_hash, e2.entry_hash);
    let log = store.consent_log(0, 10).await.unwrap();
    assert_eq!(log, vec![e1.clone(), e2.clone(), e3.clone()]);
    assert_eq!(store.consent_log(1, 1).await.unwrap(), vec![e2.clone()]);
    let mut v = Verifier::default();
    log.iter().for_each(|e| v.push(e).unwrap());
    assert_eq!(v.finish().entries, 3);
    assert_eq!(
        store.consent_log_for(&hex::encode([7u8; 32])).await.unwrap(),
        vec![e1, e3]
    );
    let mut records = store.consent_records().await.unwrap();
    records.sort_by(|a, b| a.subject.cmp(&b.subject));
    assert_eq!(records.len(), 2);
    assert!(records[0].opted_out && records[0].purposes == Purposes::NONE);
    assert!(!records[1].opted_out && records[1].purposes.measure);
    assert_eq!(store.consent_counts().await.unwrap(), (3, 2, 1));
    store.ping().await.unwrap();

    // Concurrent appends never fork the chain.
    let mut tasks = Vec::new();
    for i in 0..20u8 {
        let s = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            s.append_consent(change(100 + i, Action::Consent, Purposes::ALL))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut v = Verifier::default();
    store
        .consent_log(0, 1000)
        .await
        .unwrap()
        .iter()
        .for_each(|e| v.push(e).unwrap());
    assert_eq!(v.finish().entries, 23);
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
    let url = common::pg::fresh_database().await;
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
    let _app = spawn_app_with(|s| s.store.url = url.clone()).await;
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
    use personify::privacy::network::week_of_day;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/personify.db", dir.path().display());
    let week = week_of_day(utc_day(SystemTime::now()));
    {
        let store = store::open(&url).await.unwrap();
        store.network_salt(week - 1, [9; 32]).await.unwrap();
    }
    let _app = spawn_app_with(|s| s.store.url = url.clone()).await;
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
    let url = common::pg::fresh_database().await;
    last_good_rules_contract(store::open(&url).await.unwrap()).await;
}
