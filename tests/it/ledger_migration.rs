//! A store written by the old hash-chain code (migrations 0001–0003 only, a `consent_log` chained
//! as `git show 5452792:src/consent/log.rs` did) is converted at first start: entries kept in order,
//! free text turned into `legacy` and gone from the store, the old table dropped, the log verifying,
//! every visitor's choice still enforced, and nothing converted twice.

use std::time::SystemTime;

use personify::domain::privacy::{Keyring, Secret, VisitorId};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Row, SqlitePool};

use crate::helpers::*;

/// The visitor-key secret the old store held (`startup.rs`: `visitor_key_v1`).
const SECRET: [u8; 32] = [9; 32];
const FREE_SOURCE: &str = "my banner";
const FREE_POLICY: &str = "v1 draft";
const OLD_MIGRATIONS: [(i64, &str, &str); 3] = [
    (1, "init", "0001_init.sql"),
    (2, "counts", "0002_counts.sql"),
    (3, "network salts", "0003_network_salts.sql"),
];

/// One old-format log row.
struct OldRow {
    visitor: &'static str,
    action: &'static str,
    purposes: (bool, bool, bool),
    source: &'static str,
    policy_version: &'static str,
}

/// The old history: A consents then opts out, B consents with free text, C opts out, D consents.
const HISTORY: [OldRow; 5] = [
    OldRow {
        visitor: "old-a",
        action: "consent",
        purposes: (true, true, true),
        source: "cmp",
        policy_version: "2026-11",
    },
    OldRow {
        visitor: "old-b",
        action: "consent",
        purposes: (true, false, false),
        source: FREE_SOURCE,
        policy_version: FREE_POLICY,
    },
    OldRow {
        visitor: "old-c",
        action: "opt_out",
        purposes: (false, false, false),
        source: "api",
        policy_version: "-",
    },
    OldRow {
        visitor: "old-a",
        action: "opt_out",
        purposes: (false, false, false),
        source: "banner",
        policy_version: "-",
    },
    OldRow {
        visitor: "old-d",
        action: "consent",
        purposes: (false, true, false),
        source: "preference_centre",
        policy_version: "2026-11",
    },
];

fn subject(visitor: &str) -> String {
    Keyring::new(Secret::from_bytes(SECRET), SystemTime::now())
        .consent_subject(&VisitorId::parse(&vid(visitor)).unwrap())
        .to_hex()
}

fn receipt_id(i: usize) -> String {
    hex::encode(Sha256::digest(format!("old receipt {i}").as_bytes()))[..32].to_string()
}

fn recorded_at(i: usize) -> i64 {
    1_790_000_000_000 + 60_000 * i as i64
}

/// The old `Entry::compute_hash`: SHA-256 of a JSON array of every field but `entry_hash`.
#[allow(clippy::too_many_arguments)]
fn old_entry_hash(seq: i64, receipt: &str, at: i64, subject: &str, row: &OldRow, prev: &str) -> String {
    let (p, m, a) = row.purposes;
    let canonical = json!([
        seq,
        receipt,
        at,
        subject,
        row.action,
        p,
        m,
        a,
        row.source,
        row.policy_version,
        prev
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

fn migration_sql(dir: &str, file: &str) -> String {
    std::fs::read_to_string(manifest_dir().join("migrations").join(dir).join(file)).unwrap()
}

/// The rows `(seq, receipt, at, subject, row, prev_hash, entry_hash)` of the old chain.
fn old_chain() -> Vec<(i64, String, i64, String, &'static OldRow, String, String)> {
    let mut prev = "0".repeat(64);
    let mut out = Vec::new();
    for (i, row) in HISTORY.iter().enumerate() {
        let seq = i as i64 + 1;
        let (receipt, at, subject) = (receipt_id(i), recorded_at(i), subject(row.visitor));
        let hash = old_entry_hash(seq, &receipt, at, &subject, row, &prev);
        out.push((seq, receipt, at, subject, row, prev.clone(), hash.clone()));
        prev = hash;
    }
    out
}

/// The record each visitor ended with under the old code (the last row of theirs wins).
fn old_records() -> Vec<(String, &'static OldRow, String, i64)> {
    let mut out: Vec<(String, &'static OldRow, String, i64)> = Vec::new();
    for (_, receipt, at, subject, row, _, _) in old_chain() {
        out.retain(|(s, ..)| *s != subject);
        out.push((subject, row, receipt, at));
    }
    out
}

/// An SQLite file exactly as the old code left it: migrations 0001–0003 applied and recorded as
/// sqlx 0.8 records them (`sqlx-core/src/migrate/migration.rs`: checksum = SHA-384 of the file),
/// the visitor-key secret, the chained log and the records.
async fn old_sqlite(path: &std::path::Path) {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Delete);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (version, description, file) in OLD_MIGRATIONS {
        let sql = migration_sql("sqlite", file);
        sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (?, ?, TRUE, ?, ?)",
        )
        .bind(version)
        .bind(description)
        .bind(Sha384::digest(sql.as_bytes()).to_vec())
        .bind(1_234_567i64)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO secrets (name, value, created_at) VALUES ('visitor_key_v1', ?, 1790000000000)")
        .bind(SECRET.to_vec())
        .execute(&pool)
        .await
        .unwrap();
    for (seq, receipt, at, subject, row, prev, hash) in old_chain() {
        let (p, m, a) = row.purposes;
        sqlx::query(
            "INSERT INTO consent_log (seq, receipt_id, recorded_at, subject, action, personalize, measure, advertise, source, policy_version, prev_hash, entry_hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(receipt)
        .bind(at)
        .bind(subject)
        .bind(row.action)
        .bind(p)
        .bind(m)
        .bind(a)
        .bind(row.source)
        .bind(row.policy_version)
        .bind(prev)
        .bind(hash)
        .execute(&pool)
        .await
        .unwrap();
    }
    for (subject, row, receipt, at) in old_records() {
        let (p, m, a) = row.purposes;
        sqlx::query(
            "INSERT INTO consent_records (subject, personalize, measure, advertise, opted_out, source, policy_version, receipt_id, recorded_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(subject)
        .bind(p)
        .bind(m)
        .bind(a)
        .bind(row.action == "opt_out")
        .bind(row.source)
        .bind(row.policy_version)
        .bind(receipt)
        .bind(at)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    let bytes = std::fs::read(path).unwrap();
    assert!(
        contains(&bytes, FREE_SOURCE) && contains(&bytes, FREE_POLICY),
        "the old file holds the free text (else the test below proves nothing)"
    );
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn log_export(app: &TestApp) -> Vec<Value> {
    let res = app.admin_get("/v1/admin/consent/log?limit=1000").await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v["entries"].as_array().unwrap().clone()
}

async fn verify(app: &TestApp) -> Value {
    app.admin_get("/v1/admin/consent/verify").await.json().await.unwrap()
}

async fn basis(app: &TestApp, visitor: &str) -> Value {
    let body = json!({"page": {"url": "https://bank.example/mortgages"}, "visitor_id": vid(visitor)});
    let res = app.decide(&body, Some("DE")).await;
    assert_eq!(res.status(), 200);
    let d: Value = res.json().await.unwrap();
    d["consent"].clone()
}

/// What every converted store must show, whichever backend.
async fn assert_converted(app: &TestApp) {
    let entries = log_export(app).await;
    assert_eq!(entries.len(), HISTORY.len(), "{entries:?}");
    for (i, (e, row)) in entries.iter().zip(HISTORY.iter()).enumerate() {
        assert_eq!(e["index"], i as u64, "{e}");
        assert_eq!(e["receipt_id"], receipt_id(i), "entries keep their order: {e}");
        assert_eq!(e["action"], row.action, "{e}");
        let (p, m, a) = row.purposes;
        assert_eq!(
            e["purposes"],
            json!({"personalize": p, "measure": m, "advertise": a}),
            "{e}"
        );
        assert_eq!(
            e["time"],
            personify::domain::ledger::entry::rfc3339(recorded_at(i)),
            "times are ISO 8601: {e}"
        );
        if row.source == FREE_SOURCE {
            assert_eq!(
                (e["source"].as_str(), e["policy_version"].as_str()),
                (Some("legacy"), Some("legacy")),
                "{e}"
            );
        } else {
            assert_eq!(
                (e["source"].as_str(), e["policy_version"].as_str()),
                (Some(row.source), Some(row.policy_version)),
                "{e}"
            );
        }
        let text = e.to_string();
        assert!(!text.contains(FREE_SOURCE) && !text.contains(FREE_POLICY), "{text}");
    }
    let v = verify(app).await;
    assert_eq!(
        (v["ok"].as_bool(), v["state"].as_str()),
        (Some(true), Some("consistent")),
        "{v}"
    );
    assert_eq!(v["entries"], HISTORY.len() as u64, "{v}");

    // What each visitor chose is still enforced: A opted out after consenting, C opted out, B and
    // D keep exactly what they granted (DE is an opt-in country: nothing without a record).
    for visitor in ["old-a", "old-c"] {
        let c = basis(app, visitor).await;
        assert_eq!(c["basis"], "opt_out", "{visitor}: {c}");
        assert_eq!(
            (c["personalize"].as_bool(), c["advertise"].as_bool()),
            (Some(false), Some(false))
        );
    }
    let c = basis(app, "old-b").await;
    assert_eq!(
        (
            c["basis"].as_str(),
            c["personalize"].as_bool(),
            c["measure"].as_bool(),
            c["advertise"].as_bool()
        ),
        (Some("record"), Some(true), Some(false), Some(false)),
        "{c}"
    );
    let c = basis(app, "old-d").await;
    assert_eq!(
        (c["basis"].as_str(), c["personalize"].as_bool(), c["measure"].as_bool()),
        (Some("record"), Some(false), Some(true)),
        "{c}"
    );
    let c = basis(app, "never-seen").await;
    assert_eq!(c["basis"], "jurisdiction_opt_in", "{c}");

    // A converted receipt's status still names it; a new consent continues the log.
    let status: Value = app
        .post("/v1/consent/status", &json!({"visitor_id": vid("old-b")}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["receipts"][0]["receipt_id"], receipt_id(1), "{status}");
}

#[tokio::test]
async fn an_old_sqlite_chain_is_converted_once_and_its_free_text_is_gone() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("personify.db");
    old_sqlite(&file).await;
    let url = format!("sqlite://{}", file.display());

    let app = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
    assert_converted(&app).await;

    let pool = SqlitePool::connect(&url).await.unwrap();
    let old: Option<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE name LIKE 'consent_log%'")
        .fetch_optional(&pool)
        .await
        .unwrap();
    assert_eq!(old, None, "the old table, its index and triggers are dropped");
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        applied,
        shipped_versions("sqlite"),
        "every shipped migration applied once"
    );

    // Nothing of the free text anywhere: no table holds it, and (once the WAL is folded into the
    // file) neither do the file's bytes, free pages included.
    let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
        .fetch_all(&pool)
        .await
        .unwrap();
    for t in &tables {
        let rows = sqlx::query(&format!("SELECT * FROM \"{t}\""))
            .fetch_all(&pool)
            .await
            .unwrap();
        for r in rows {
            for i in 0..r.len() {
                let text: Option<String> = r.try_get::<Option<String>, _>(i).ok().flatten();
                let blob: Option<Vec<u8>> = r.try_get::<Option<Vec<u8>>, _>(i).ok().flatten();
                let hit = text.is_some_and(|t| t.contains(FREE_SOURCE) || t.contains(FREE_POLICY))
                    || blob.is_some_and(|b| contains(&b, FREE_SOURCE) || contains(&b, FREE_POLICY));
                assert!(!hit, "table {t} still holds the old free text");
            }
        }
    }
    // The start's background verify reads the log (its read transaction would keep the WAL busy):
    // wait for its verdict first.
    for _ in 0..600 {
        let c: Value = app.admin_get("/v1/admin/compliance").await.json().await.unwrap();
        if !c["consent"]["last_verification"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let busy: i64 = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(busy, 0, "the WAL could be checkpointed");
    for name in ["personify.db", "personify.db-wal"] {
        let Ok(bytes) = std::fs::read(data.path().join(name)) else {
            continue;
        };
        assert!(
            !contains(&bytes, FREE_SOURCE) && !contains(&bytes, FREE_POLICY),
            "{name} still holds the old free text in its bytes (deleted rows and dropped tables \
             leave their content in free pages unless secure_delete is on or the file is vacuumed)"
        );
    }

    // A second start on the same file converts nothing again: same entries, same hashes.
    let before = log_export(&app).await;
    let again = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
    let after = log_export(&again).await;
    assert_eq!(before, after, "a second start changed the log");
    assert_converted(&again).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_leaves")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, HISTORY.len() as i64);
}

/// The same old state on PostgreSQL (`migrations/postgres/0001`–`0003`).
async fn old_postgres(url: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
);",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (version, description, file) in OLD_MIGRATIONS {
        let sql = migration_sql("postgres", file);
        sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ($1, $2, TRUE, $3, $4)",
        )
        .bind(version)
        .bind(description)
        .bind(Sha384::digest(sql.as_bytes()).to_vec())
        .bind(1_234_567i64)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO secrets (name, value, created_at) VALUES ('visitor_key_v1', $1, 1790000000000)")
        .bind(SECRET.to_vec())
        .execute(&pool)
        .await
        .unwrap();
    for (seq, receipt, at, subject, row, prev, hash) in old_chain() {
        let (p, m, a) = row.purposes;
        sqlx::query(
            "INSERT INTO consent_log (seq, receipt_id, recorded_at, subject, action, personalize, measure, advertise, source, policy_version, prev_hash, entry_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(seq)
        .bind(receipt)
        .bind(at)
        .bind(subject)
        .bind(row.action)
        .bind(p)
        .bind(m)
        .bind(a)
        .bind(row.source)
        .bind(row.policy_version)
        .bind(prev)
        .bind(hash)
        .execute(&pool)
        .await
        .unwrap();
    }
    for (subject, row, receipt, at) in old_records() {
        let (p, m, a) = row.purposes;
        sqlx::query(
            "INSERT INTO consent_records (subject, personalize, measure, advertise, opted_out, source, policy_version, receipt_id, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(subject)
        .bind(p)
        .bind(m)
        .bind(a)
        .bind(row.action == "opt_out")
        .bind(row.source)
        .bind(row.policy_version)
        .bind(receipt)
        .bind(at)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
}

#[tokio::test]
#[ignore = "needs PERSONIFY_TEST_POSTGRES_URL (see README)"]
async fn an_old_postgres_chain_is_converted_once_and_its_free_text_is_gone() {
    let url = crate::helpers::pg::fresh_database().await;
    old_postgres(&url).await;

    let app = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
    assert_converted(&app).await;

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let old: Option<String> = sqlx::query_scalar("SELECT to_regclass('consent_log')::text")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(old, None, "the old table is dropped");
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        applied,
        shipped_versions("postgres"),
        "every shipped migration applied once"
    );
    // No table holds the free text (every row of every table, as text).
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()")
            .fetch_all(&pool)
            .await
            .unwrap();
    for t in &tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{t}\" t"))
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(
            rows.iter()
                .all(|r| !r.contains(FREE_SOURCE) && !r.contains(FREE_POLICY)),
            "table {t} still holds the old free text"
        );
    }
    let functions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_proc WHERE proname = 'consent_log_append_only'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(functions, 0);

    let before = log_export(&app).await;
    let again = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
    assert_eq!(before, log_export(&again).await, "a second start changed the log");
    assert_converted(&again).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_leaves")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, HISTORY.len() as i64);
}

#[tokio::test]
async fn a_record_with_no_old_log_entry_loses_its_free_text_too() {
    // A record the old chain has no entry for (written by hand, or its entries lost): the
    // conversion has no entry to rebuild it from, so it must scrub the record itself.
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("personify.db");
    old_sqlite(&file).await;
    let url = format!("sqlite://{}", file.display());
    {
        let pool = SqlitePool::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO consent_records (subject, personalize, measure, advertise, opted_out, source, policy_version, receipt_id, recorded_at) \
             VALUES (?, 1, 0, 0, 0, ?, ?, ?, 1790000000000)",
        )
        .bind(subject("orphan"))
        .bind(FREE_SOURCE)
        .bind(FREE_POLICY)
        .bind(receipt_id(99))
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let app = spawn_app_with(|s| s.store.url = url.parse().expect("store url")).await;
    assert_eq!(log_export(&app).await.len(), HISTORY.len());
    let pool = SqlitePool::connect(&url).await.unwrap();
    let left: Vec<(String, String)> = sqlx::query_as(
        "SELECT source, policy_version FROM consent_records WHERE source IN (?, ?) OR policy_version IN (?, ?)",
    )
    .bind(FREE_SOURCE)
    .bind(FREE_POLICY)
    .bind(FREE_SOURCE)
    .bind(FREE_POLICY)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        left.is_empty(),
        "consent_records still holds the old free text in {} row(s)",
        left.len()
    );
}

/// The versions of the migrations shipped for `backend`, in order.
fn shipped_versions(backend: &str) -> Vec<i64> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut v: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.split('_').next()?.parse().ok())
        .collect();
    v.sort_unstable();
    v
}
