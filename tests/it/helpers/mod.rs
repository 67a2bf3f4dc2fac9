//! Shared test helpers: spawn the real server in-process on a random port with its own SQLite file.

pub mod closed_day;
pub mod machine;
pub mod pg;
pub mod private_pg;
pub mod process;

use std::path::{Path, PathBuf};

use personify::app::startup::Application;
use personify::config::Settings;
use serde_json::{json, Value};

/// A running server and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub rules_version: String,
    /// Holds the SQLite store; removed when the test ends.
    pub data_dir: tempfile::TempDir,
}

/// The token the test servers accept with every scope.
pub const ADMIN_TOKEN: &str = "test-admin-token-5b1f-9c2e7a40d3b86f15";

/// A valid visitor id (a UUID) derived from `label`: the same label gives the same id, different
/// labels give unrelated ids, as `crypto.randomUUID()` would.
pub fn vid(label: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(label.as_bytes()));
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn example_rules() -> PathBuf {
    manifest_dir().join("segment_rules")
}

/// The consent log key of this test process: one file outside every data directory, shared by every
/// server the process starts (nodes sharing a PostgreSQL database need the same key).
pub fn test_log_key() -> PathBuf {
    std::env::temp_dir()
        .join("personify-test-keys")
        .join(format!("{}.key", std::process::id()))
}

/// Test settings: embedded defaults, random port, one worker, the shipped rules. Rate limits are
/// off (every test client is the same loopback network); the tests of the limits turn them on.
///
/// The rules watcher is off too; the reload tests turn it on. A server keeps its watcher (one inotify
/// instance) until the process exits, and every test of the suite shares one process: the default
/// per-user limit of 128 instances ran out before the reload tests ran, and their watchers saw nothing.
pub fn test_settings() -> Settings {
    let mut s = Settings::defaults().expect("defaults load");
    s.server.port = 0;
    s.server.workers = 1;
    s.rules.dir = example_rules();
    s.rules.watch = false;
    s.limits.enabled = false;
    s.consent.log_key_file = test_log_key();
    s.consent.checkpoint_dir = None;
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings();
    settings.store.url = format!("sqlite://{}/personify.db", data_dir.path().display())
        .parse()
        .expect("store url");
    settings.auth.admin_token = ADMIN_TOKEN.into();
    settings.consent.checkpoint_dir = Some(data_dir.path().join("checkpoints"));
    adjust(&mut settings);
    let app = Application::build(&settings).await.expect("server builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let rules_version = app.rules_version();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: test_client(),
        rules_version,
        data_dir,
    }
}

/// A client that never reuses a connection idle for more than a second. The server closes one idle
/// for 5 s (actix's keep-alive); a test starved for that long between two requests (a CLI run
/// beside many other tests of the one process) otherwise sent its next request on a connection the
/// server was closing, and failed with `IncompleteMessage`.
fn test_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(1))
        .build()
        .expect("client builds")
}

/// A desktop Chrome User-Agent.
pub const DESKTOP_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
/// An iPhone Safari User-Agent.
pub const IPHONE_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// POSTs JSON to a route.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// GETs an admin route with the test token.
    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request sent")
    }

    /// Records a consent choice and returns the receipt.
    pub async fn consent(&self, visitor_id: &str, purposes: Value) -> Value {
        let body =
            json!({"visitor_id": visitor_id, "purposes": purposes, "source": "cmp", "policy_version": "2026-11"});
        let res = self.post("/v1/consent", &body).await;
        assert_eq!(res.status(), 201);
        res.json().await.expect("receipt")
    }

    /// POSTs a decide body with browser-like headers and the given country (None = header absent).
    pub async fn decide(&self, body: &Value, country: Option<&str>) -> reqwest::Response {
        self.decide_with(body, country, &[]).await
    }

    pub async fn decide_with(&self, body: &Value, country: Option<&str>, extra: &[(&str, &str)]) -> reqwest::Response {
        // `extra` replaces the default User-Agent and Accept-Language (a second header of the same
        // name would be appended, and the server reads the first).
        let mut headers = reqwest::header::HeaderMap::new();
        let defaults = [("User-Agent", DESKTOP_UA), ("Accept-Language", "en-GB,en;q=0.9")];
        for (k, v) in defaults.iter().chain(extra) {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("header name");
            headers.insert(name, v.parse().expect("header value"));
        }
        if let Some(c) = country {
            headers.insert("CF-IPCountry", c.parse().expect("country header"));
        }
        self.client
            .post(self.url("/v1/decide"))
            .headers(headers)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// A decide call for a US visitor (opt-out jurisdiction) that must succeed; returns the JSON.
    pub async fn decide_ok(&self, body: &Value) -> Value {
        let res = self.decide(body, Some("US")).await;
        assert_eq!(res.status(), 200);
        res.json().await.expect("json body")
    }
}

/// A page view body.
pub fn page(url: &str) -> Value {
    json!({ "page": { "url": url } })
}

pub fn segment_ids(v: &Value) -> Vec<String> {
    v["segments"]
        .as_array()
        .expect("segments array")
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

pub fn variant<'a>(v: &'a Value, slot: &str) -> &'a str {
    v["decisions"][slot]["variant"]
        .as_str()
        .unwrap_or_else(|| panic!("no decision for {slot}: {v}"))
}

pub fn write_rules(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write rule file");
    }
}

/// A scoped token configured, as operators do, by the SHA-256 of its value.
pub fn scoped_token(value: &str, scope: &str) -> personify::config::TokenSettings {
    personify::config::TokenSettings {
        name: scope.into(),
        sha256: personify::config::TokenHash::of(value),
        scopes: vec![scope.parse().expect("a scope")],
    }
}

/// Rows of `experiment_units` in the SQLite file of a server's data directory: the exposed units
/// (`goal = None`) or the converters on `goal`, over every arm and period. What the exact counts
/// are made from, read beside the server (a flush must have run).
pub async fn stored_units(data_dir: &Path, experiment: &str, goal: Option<&str>) -> i64 {
    let url = format!("sqlite://{}/personify.db?mode=ro", data_dir.display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("the store opens");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM experiment_units WHERE experiment = ?1 AND goal = ?2")
        .bind(experiment)
        .bind(goal.unwrap_or(""))
        .fetch_one(&pool)
        .await
        .expect("units counted");
    pool.close().await;
    n
}
