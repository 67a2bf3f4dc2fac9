//! Live rule reload: a rules directory edited under a running server (watcher, SIGHUP, the admin
//! route), with broken edits rejected while the old set keeps serving.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;

const OPS_TOKEN: &str = "ops-token-for-the-rule-reloads-0123456789";
const ANALYST_TOKEN: &str = "analyst-token-for-the-reports-page-0123456789";
const HEADLINE: &str = "Banking that works around you";

/// A copy of the shipped rules that a test may edit.
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

/// Replaces `from` with `to` in `content.toml` (written in place, as an editor without atomic saves would).
fn edit(dir: &Path, from: &str, to: &str) {
    let path = dir.join("content.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from} not in content.toml");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

async fn app(rules: &Path, watch: bool) -> TestApp {
    let dir = rules.to_path_buf();
    spawn_app_with(move |s| {
        s.rules.dir = dir;
        s.rules.watch = watch;
        s.auth.tokens = vec![scoped_token(OPS_TOKEN, "ops"), scoped_token(ANALYST_TOKEN, "analyst")];
    })
    .await
}

/// The rules version and hero headline the home page gets.
async fn home(app: &TestApp) -> (String, String) {
    let v = app.decide_ok(&page("https://bank.example/")).await;
    (
        v["rules_version"].as_str().unwrap().to_string(),
        v["decisions"]["hero"]["content"]["headline"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

async fn reload(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/admin/rules/reload"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn scrape(app: &TestApp) -> String {
    let res = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap();
    res.text().await.unwrap()
}

/// Polls until `done` holds (the watcher reacts on its own clock).
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_edited_rule_file_is_served_in_the_next_decision_and_a_broken_edit_is_rejected() {
    let rules = rules_copy();
    let app = app(rules.path(), true).await;
    let (v1, headline) = home(&app).await;
    assert_eq!(headline, HEADLINE);

    edit(rules.path(), HEADLINE, "Banking that fits your day");
    eventually("the edit is served", || async { home(&app).await.0 != v1 }).await;
    let (v2, headline) = home(&app).await;
    assert_eq!(headline, "Banking that fits your day");

    // A broken edit (content addressing a person) is rejected; the last set keeps serving.
    edit(
        rules.path(),
        "Banking that fits your day",
        "Dear [FIRST_NAME], banking that fits your day",
    );
    eventually("the broken edit is rejected", || async {
        scrape(&app)
            .await
            .contains(r#"personify_rule_reloads_total{result="failed"} 1"#)
    })
    .await;
    assert_eq!(home(&app).await, (v2.clone(), "Banking that fits your day".to_string()));
    let metrics = scrape(&app).await;
    assert!(
        metrics.contains(&format!(r#"personify_rules_info{{version="{v2}"}} 1"#)),
        "{metrics}"
    );
}

#[tokio::test]
async fn reading_the_rule_files_reloads_nothing() {
    let rules = rules_copy();
    let app = app(rules.path(), true).await;
    // A backup or `cat` opens and reads the files; so does every reload. Neither is a change: before,
    // each reload's own reads triggered the next, about five a second for the node's lifetime.
    for entry in std::fs::read_dir(rules.path()).unwrap() {
        std::fs::read_to_string(entry.unwrap().path()).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let metrics = scrape(&app).await;
    assert!(
        !metrics.contains(r#"personify_rule_reloads_total{result="ok"}"#),
        "{metrics}"
    );
    // A real edit still reloads, exactly once.
    edit(rules.path(), HEADLINE, "Banking that fits your day");
    eventually("the edit is served", || async { home(&app).await.1 != HEADLINE }).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let metrics = scrape(&app).await;
    assert!(
        metrics.contains(r#"personify_rule_reloads_total{result="ok"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_reload_route_answers_422_with_located_diagnostics_and_keeps_the_old_set() {
    let rules = rules_copy();
    let app = app(rules.path(), false).await;
    let (v1, _) = home(&app).await;

    edit(
        rules.path(),
        HEADLINE,
        "Dear [FIRST_NAME], banking that works around you",
    );
    let res = reload(&app, OPS_TOKEN).await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_rules");
    let d = &body["error"]["diagnostics"][0];
    assert!(d["file"].as_str().unwrap().ends_with("content.toml"), "{body}");
    assert_eq!(d["kind"], "identity_placeholder", "{body}");
    assert_eq!(d["severity"], "error");
    assert!(
        d["line"].as_u64().unwrap() > 1 && d["col"].as_u64().unwrap() >= 1,
        "{body}"
    );
    assert_eq!(home(&app).await, (v1.clone(), HEADLINE.to_string()));

    edit(rules.path(), "Dear [FIRST_NAME], banking", "Banking");
    edit(rules.path(), HEADLINE, "Banking, plainly");
    let res = reload(&app, OPS_TOKEN).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["changed"], true);
    let (v2, headline) = home(&app).await;
    assert_ne!(v2, v1);
    assert_eq!(body["version"], v2.as_str());
    assert_eq!(headline, "Banking, plainly");

    // Reloading an unchanged directory swaps nothing.
    let body: Value = reload(&app, OPS_TOKEN).await.json().await.unwrap();
    assert_eq!(body["changed"], false);
    let metrics = scrape(&app).await;
    assert!(
        metrics.contains(r#"personify_rule_reloads_total{result="ok"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"personify_rule_reloads_total{result="failed"} 1"#),
        "{metrics}"
    );
}

/// The audit trail as (actor, action) pairs, read with the admin token.
async fn audit_trail(client: &reqwest::Client, base: &str, token: &str) -> Vec<(String, String)> {
    let res = client
        .get(format!("{base}/v1/admin/audit"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn reloads_are_audited_by_token_name_or_by_the_watcher_and_never_hold_rule_text() {
    let rules = rules_copy();
    let app = app(rules.path(), true).await;
    let (v1, _) = home(&app).await;
    let entry = |actor: &str, action: &str| (actor.to_string(), action.to_string());

    // The route, refused then accepted: each named by the ops token's configured name.
    edit(rules.path(), HEADLINE, "Dear [FIRST_NAME], audited");
    let trail = || audit_trail(&app.client, &app.address, ADMIN_TOKEN);
    // The watcher sees the broken edit too; wait for it so the route's entries come after.
    eventually("the watcher refuses the broken edit", || async {
        trail().await.contains(&entry("watcher", "rules_reload_failed"))
    })
    .await;
    assert_eq!(reload(&app, OPS_TOKEN).await.status(), 422);
    edit(rules.path(), "Dear [FIRST_NAME], audited", "Banking, audited");
    eventually("the watcher loads the fix", || async { home(&app).await.0 != v1 }).await;
    eventually("the watcher's reload is recorded", || async {
        trail().await.contains(&entry("watcher", "rules_reloaded"))
    })
    .await;
    assert_eq!(reload(&app, OPS_TOKEN).await.status(), 200);

    let seen = trail().await;
    let by_ops: Vec<_> = seen.iter().filter(|(actor, _)| actor == "ops").cloned().collect();
    assert_eq!(
        by_ops,
        [entry("ops", "rules_reload_failed"), entry("ops", "rules_reloaded")],
        "{seen:?}"
    );
    // Besides the reloads, only the analysis periods the rules started (actor `rules`).
    assert!(
        seen.iter().all(|(actor, action)| actor == "ops"
            || actor == "watcher"
            || (actor == "rules" && action == "experiment_period_started")),
        "{seen:?}"
    );
    // Only closed-set values: nothing of the edited rule text reaches the trail.
    let raw = app.admin_get("/v1/admin/audit").await.text().await.unwrap();
    assert!(!raw.contains("FIRST_NAME") && !raw.contains("audited"), "{raw}");
    // An analyst may not reload, and a refused request is no action; reading the rule files is no
    // change: the watcher does not reload, and nothing is recorded.
    assert_eq!(reload(&app, ANALYST_TOKEN).await.status(), 403);
    let reloads = || async {
        let metrics = scrape(&app).await;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(r#"personify_rule_reloads_total{result="ok"} "#))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = reloads().await;
    for entry in std::fs::read_dir(rules.path()).unwrap() {
        drop(std::fs::read(entry.unwrap().path()).unwrap());
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(reloads().await, before);
    assert_eq!(trail().await.len(), seen.len(), "{:?}", trail().await);
}

#[tokio::test]
async fn the_rules_route_names_the_version_counts_and_each_file_with_its_sha256() {
    use sha2::{Digest, Sha256};
    let rules = rules_copy();
    let app = app(rules.path(), false).await;
    let res = app
        .client
        .get(app.url("/v1/admin/rules"))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["version"], app.rules_version.as_str());
    assert!(body["segments"].as_u64().unwrap() >= 5, "{body}");
    assert!(body["slots"].as_u64().unwrap() >= 2, "{body}");
    assert!(body["experiments"].as_u64().unwrap() >= 1, "{body}");
    let loaded_at = body["loaded_at"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(loaded_at).is_ok(), "{loaded_at}");
    let files = body["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    for f in files {
        let name = f["name"].as_str().unwrap();
        let bytes = std::fs::read(name).unwrap();
        assert_eq!(f["sha256"], hex::encode(Sha256::digest(&bytes)).as_str(), "{name}");
    }
}

#[tokio::test]
async fn rules_routes_need_the_ops_scope() {
    let rules = rules_copy();
    let app = app(rules.path(), false).await;
    assert_eq!(reload(&app, ANALYST_TOKEN).await.status(), 403);
    let none = app.client.post(app.url("/v1/admin/rules/reload")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let get = app
        .client
        .get(app.url("/v1/admin/rules"))
        .bearer_auth(ANALYST_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 403);
    assert_eq!(reload(&app, ADMIN_TOKEN).await.status(), 200, "admin holds every scope");
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_rules_of_the_real_binary() {
    let rules = rules_copy();
    let data = tempfile::tempdir().unwrap();
    let server = crate::helpers::process::Server::start(
        data.path(),
        &[
            ("PERSONIFY__RULES__DIR", rules.path().to_str().unwrap()),
            ("PERSONIFY__RULES__WATCH", "false"),
            ("PERSONIFY_ADMIN_TOKEN", ADMIN_TOKEN),
        ],
    );
    let client = reqwest::Client::new();
    let readyz = format!("{}/readyz", server.base());
    let version = || async {
        let v: Value = client.get(&readyz).send().await.unwrap().json().await.unwrap();
        v["rules_version"].as_str().unwrap().to_string()
    };
    let v1 = version().await;
    edit(rules.path(), HEADLINE, "Banking, after a hangup");
    assert_eq!(
        version().await,
        v1,
        "without the watcher nothing changes before the signal"
    );
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    eventually("SIGHUP reloads", || async { version().await != v1 }).await;
    assert!(
        server.log_text().contains("trigger=\"sighup\"") || server.log_text().contains("trigger=sighup"),
        "{}",
        server.log_text()
    );
    let trail = audit_trail(&client, &server.base(), ADMIN_TOKEN).await;
    let reloads: Vec<_> = trail
        .into_iter()
        .filter(|(actor, action)| !(actor == "rules" && action == "experiment_period_started"))
        .collect();
    assert_eq!(reloads, [("signal".to_string(), "rules_reloaded".to_string())]);
}
