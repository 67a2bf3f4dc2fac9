//! A typo is not an outage: a node whose rules directory does not load serves the last good set
//! from the store, and says so; with no good set ever stored it refuses to start, as before.

use std::path::Path;

use serde_json::Value;

use crate::helpers::*;

const BROKEN: &str = "Dear [FIRST_NAME], banking that works around you";

/// A copy of the shipped rules that a test may break.
fn rules_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(example_rules()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn edit(dir: &Path, from: &str, to: &str) {
    let path = dir.join("content.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from));
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn settings(rules: &Path, store: &Path) -> personify::config::Settings {
    let mut s = test_settings();
    s.rules.dir = rules.to_path_buf();
    s.rules.watch = false;
    s.store.url = format!("sqlite://{}/personify.db", store.display())
        .parse()
        .expect("store url");
    s.auth.admin_token = ADMIN_TOKEN.into();
    s
}

async fn start(settings: &personify::config::Settings) -> (String, String) {
    let app = personify::app::startup::Application::build(settings)
        .await
        .expect("server builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let version = app.rules_version();
    tokio::spawn(app.run_until_stopped());
    (base, version)
}

async fn get(url: String) -> (u16, Value) {
    let res = reqwest::Client::new()
        .get(url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_node_with_broken_rules_serves_the_last_good_set_and_says_so() {
    let rules = rules_copy();
    let store = tempfile::tempdir().unwrap();
    // A first start with good rules stores them as the last good set.
    let (_, good) = start(&settings(rules.path(), store.path())).await;

    edit(rules.path(), "Banking that works around you", BROKEN);
    let (base, version) = start(&settings(rules.path(), store.path())).await;
    assert_eq!(version, good, "the last good set serves");

    let (status, ready) = get(format!("{base}/readyz")).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["rules"], "last_good");
    assert_eq!(ready["rules_version"], good.as_str());

    let decision: Value = reqwest::Client::new()
        .post(format!("{base}/v1/decide"))
        .header("CF-IPCountry", "US")
        .json(&page("https://bank.example/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(decision["rules_version"], good.as_str());
    assert_eq!(
        decision["decisions"]["hero"]["content"]["headline"],
        "Banking that works around you"
    );

    let (_, info) = get(format!("{base}/v1/admin/rules")).await;
    assert_eq!(info["last_good"]["dir_errors"], 1, "{info}");
    let metrics = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("personify_rules_last_good 1"), "{metrics}");

    // `check` still fails on the directory.
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_personify"))
        .args(["--config", manifest_dir().join("config").to_str().unwrap(), "check"])
        .arg(rules.path())
        .output()
        .unwrap();
    assert!(!check.status.success());
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("content.toml")
            || String::from_utf8_lossy(&check.stderr).contains("content.toml")
    );

    // Fixing the directory and reloading leaves the last good set behind.
    edit(rules.path(), BROKEN, "Banking, fixed");
    let res = reqwest::Client::new()
        .post(format!("{base}/v1/admin/rules/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, ready) = get(format!("{base}/readyz")).await;
    assert_eq!(ready["rules"], "ok");
    assert_ne!(ready["rules_version"], good.as_str());
    let (_, info) = get(format!("{base}/v1/admin/rules")).await;
    assert!(info["last_good"].is_null(), "{info}");
}

#[tokio::test]
async fn a_node_that_never_had_good_rules_refuses_to_start() {
    let rules = rules_copy();
    let store = tempfile::tempdir().unwrap();
    edit(rules.path(), "Banking that works around you", BROKEN);
    let err = personify::app::startup::Application::build(&settings(rules.path(), store.path()))
        .await
        .err()
        .expect("startup refused");
    let text = err.to_string();
    assert!(text.contains("content.toml"), "{text}");
}

#[tokio::test]
async fn the_last_good_set_is_the_latest_that_loaded() {
    let rules = rules_copy();
    let store = tempfile::tempdir().unwrap();
    let (base, _) = start(&settings(rules.path(), store.path())).await;
    // A reload of a good edit replaces the stored set.
    edit(rules.path(), "Banking that works around you", "Banking, second edition");
    let res = reqwest::Client::new()
        .post(format!("{base}/v1/admin/rules/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let reloaded: Value = res.json().await.unwrap();
    edit(rules.path(), "Banking, second edition", BROKEN);
    let (_, version) = start(&settings(rules.path(), store.path())).await;
    assert_eq!(version, reloaded["version"].as_str().unwrap());
}
