//! `GET /metrics`: operational metrics for the `ops` scope, with labels from closed sets only.

use serde_json::json;

use crate::helpers::*;

const OPS_TOKEN: &str = "ops-token-for-the-metrics-scraper-0123456789";
const ANALYST_TOKEN: &str = "analyst-token-for-the-reports-page-0123456789";

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.auth.tokens = vec![scoped_token(OPS_TOKEN, "ops"), scoped_token(ANALYST_TOKEN, "analyst")];
    })
    .await
}

async fn scrape(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_for_the_ops_scope() {
    let app = app().await;
    for _ in 0..3 {
        app.decide_ok(&page(
            "https://bank.example/mortgages/fixed-rate?utm_source=zq-canary-7",
        ))
        .await;
    }
    let bad = app
        .post("/v1/decide", &json!({"page": {"url": "ftp://zq-canary-8.example/"}}))
        .await;
    assert_eq!(bad.status(), 400);
    let res = scrape(&app, OPS_TOKEN).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    assert!(
        text.contains(r#"personify_http_requests_total{route="/v1/decide",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"personify_http_requests_total{route="/v1/decide",status="400"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"personify_http_request_duration_seconds_count{route="/v1/decide"} 4"#),
        "{text}"
    );
    assert!(
        text.contains(&format!(r#"personify_rules_info{{version="{}"}} 1"#, app.rules_version)),
        "{text}"
    );
    assert!(text.contains("personify_rtb_release_set_segments 0"), "{text}");
    assert!(text.ends_with("# EOF\n"));
    assert!(!text.contains("zq-canary"), "a request value reached a label");
    assert!(
        !text.contains("mortgage_intent"),
        "per-segment counts must stay in the k-anonymous reports"
    );
}

#[tokio::test]
async fn metrics_need_the_ops_scope() {
    let app = app().await;
    assert_eq!(scrape(&app, ANALYST_TOKEN).await.status(), 403);
    assert_eq!(scrape(&app, "not-a-token-at-all-0123456789abcdef").await.status(), 401);
    assert_eq!(scrape(&app, ADMIN_TOKEN).await.status(), 200, "admin holds every scope");
    let none = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(none.status(), 401);
}

#[tokio::test]
async fn consent_writes_are_counted_by_action() {
    let app = app().await;
    app.consent(&vid("metrics-consent"), json!({"personalize": true})).await;
    let res = app
        .post("/v1/opt-out", &json!({"visitor_id": vid("metrics-opt-out")}))
        .await;
    assert!(res.status().is_success());
    let text = scrape(&app, OPS_TOKEN).await.text().await.unwrap();
    assert!(
        text.contains(r#"personify_consent_writes_total{action="consent"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"personify_consent_writes_total{action="opt_out"} 1"#),
        "{text}"
    );
}

/// The value of one sample (`name{labels}` exactly as exposed), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

/// Scrapes until `series` reaches at least `min` (background tasks run on their own clock).
async fn wait_for(app: &TestApp, series: &str, min: f64) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = scrape(app, OPS_TOKEN).await.text().await.unwrap();
        if sample(&text, series).is_some_and(|v| v >= min) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{series} never reached {min}:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn sqlite(app: &TestApp) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}/personify.db", app.data_dir.path().display()))
        .await
        .unwrap()
}

async fn fast_app() -> TestApp {
    spawn_app_with(|s| {
        s.auth.tokens = vec![scoped_token(OPS_TOKEN, "ops")];
        s.counts.flush_seconds = 1;
        s.counts.release_refresh_seconds = 1;
    })
    .await
}

#[tokio::test]
async fn sketch_flushes_are_counted_and_timed_and_a_failed_one_is_a_store_error() {
    let app = fast_app().await;
    app.decide_ok(&page("https://bank.example/mortgages/fixed-rate")).await;
    let text = wait_for(&app, r#"personify_sketch_flushes_total{result="ok"}"#, 1.0).await;
    assert!(
        sample(&text, "personify_sketch_flush_duration_seconds_count").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"personify_sketch_flushes_total{result="failed"}"#),
        None
    );

    // The store refuses sketch writes: the next flush with something to write fails.
    let pool = sqlite(&app).await;
    sqlx::query("CREATE TRIGGER refuse_sketches BEFORE INSERT ON sketches BEGIN SELECT RAISE(ABORT, 'refused'); END")
        .execute(&pool)
        .await
        .unwrap();
    app.decide_ok(&page("https://bank.example/savings/isa")).await;
    let text = wait_for(&app, r#"personify_sketch_flushes_total{result="failed"}"#, 1.0).await;
    assert!(
        sample(&text, r#"personify_store_errors_total{task="flush"}"#).is_some_and(|n| n >= 1.0),
        "{text}"
    );
}

#[tokio::test]
async fn a_failed_retention_purge_is_counted() {
    let app = fast_app().await;
    let pool = sqlite(&app).await;
    // A row from 1970, long past retention, that the store refuses to delete (the guard first, so
    // a purge cannot slip in between).
    sqlx::query("CREATE TRIGGER keep_counters BEFORE DELETE ON counters BEGIN SELECT RAISE(ABORT, 'refused'); END")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO counters (kind, key, day, node, value) VALUES ('views', 'old', 1, 'n', 1)")
        .execute(&pool)
        .await
        .unwrap();
    let text = wait_for(&app, r#"personify_purge_failures_total{data="aggregates"}"#, 1.0).await;
    assert!(
        sample(&text, r#"personify_store_errors_total{task="purge"}"#).is_some_and(|n| n >= 1.0),
        "{text}"
    );
}

#[tokio::test]
async fn an_overdue_salt_shows_in_the_salt_age_and_its_failed_purge_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/personify.db", dir.path().display());
    // Before the server starts: a salt five days old that the store refuses to delete.
    let store = personify::store::open(&url).await.unwrap();
    let today = personify::domain::privacy::utc_day(std::time::SystemTime::now());
    store.salt(today - 5, [7; 32]).await.unwrap();
    drop(store);
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("CREATE TRIGGER keep_salts BEFORE DELETE ON daily_salts BEGIN SELECT RAISE(ABORT, 'refused'); END")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let app = spawn_app_with(|s| {
        s.auth.tokens = vec![scoped_token(OPS_TOKEN, "ops")];
        s.store.url = url.parse().expect("store url");
    })
    .await;
    let text = wait_for(&app, r#"personify_purge_failures_total{data="salts"}"#, 1.0).await;
    let age = sample(&text, "personify_salt_age_seconds").unwrap_or(0.0);
    assert!(age >= 5.0 * 86_400.0, "{text}");
    assert!(age < 6.0 * 86_400.0, "{text}");
}

#[tokio::test]
async fn the_salt_age_of_a_healthy_store_stays_under_48_hours() {
    let app = app().await;
    let text = scrape(&app, OPS_TOKEN).await.text().await.unwrap();
    let age = sample(&text, "personify_salt_age_seconds").unwrap_or(-1.0);
    assert!((0.0..48.0 * 3600.0).contains(&age), "{text}");
}

#[tokio::test]
async fn a_store_failure_answered_503_is_counted_as_a_store_error() {
    let app = app().await;
    let pool = sqlite(&app).await;
    sqlx::query(
        "CREATE TRIGGER refuse_consent BEFORE INSERT ON consent_leaves BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    let body = json!({"visitor_id": vid("metrics-503"), "purposes": {"personalize": true}, "source": "cmp", "policy_version": "2026-11"});
    assert_eq!(app.post("/v1/consent", &body).await.status(), 503);
    let text = scrape(&app, OPS_TOKEN).await.text().await.unwrap();
    assert_eq!(
        sample(&text, r#"personify_store_errors_total{task="request"}"#),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn the_metrics_listener_serves_metrics_without_a_token_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings();
    settings.store.url = format!("sqlite://{}/personify.db", dir.path().display())
        .parse()
        .expect("store url");
    settings.auth.admin_token = ADMIN_TOKEN.into();
    settings.server.metrics_addr = Some("127.0.0.1:0".parse().expect("listen address"));
    let app = personify::app::startup::Application::build(&settings).await.unwrap();
    let main = format!("http://127.0.0.1:{}", app.port());
    let metrics = format!("http://127.0.0.1:{}", app.metrics_port().expect("metrics listener"));
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();

    let res = client.get(format!("{metrics}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("personify_rules_info"));
    // Only /metrics: the decision and admin routes are not on this listener.
    let decide = client
        .post(format!("{metrics}/v1/decide"))
        .json(&page("https://bank.example/"))
        .send()
        .await
        .unwrap();
    assert_eq!(decide.status(), 404);
    let admin = client
        .get(format!("{metrics}/v1/admin/compliance"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 404);
    // The main listener still wants the ops scope.
    assert_eq!(
        client.get(format!("{main}/metrics")).send().await.unwrap().status(),
        401
    );
}

#[tokio::test]
async fn without_metrics_addr_there_is_no_second_listener() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings();
    settings.store.url = format!("sqlite://{}/personify.db", dir.path().display())
        .parse()
        .expect("store url");
    let app = personify::app::startup::Application::build(&settings).await.unwrap();
    assert_eq!(app.metrics_port(), None);
}
