//! The console's routes: the static files with their security headers, `whoami` (a token's scopes,
//! never the token), the experiment list and the slots of the record of processing it renders.
//! The pages themselves are tested in Chromium (`tests/browser/console.test.mjs`).

use serde_json::Value;

use crate::helpers::*;

const DPO_TOKEN: &str = "console-compliance-token-0123456789abcdef";
const ANALYST_TOKEN: &str = "console-analyst-token-0123456789abcdefgh";

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.auth.tokens = vec![
            scoped_token(DPO_TOKEN, "compliance"),
            scoped_token(ANALYST_TOKEN, "analyst"),
        ];
    })
    .await
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request sent")
}

#[tokio::test]
async fn every_console_file_is_served_with_a_strict_policy_and_no_sniffing() {
    let app = app().await;
    for (path, media) in [
        ("/console/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/forest.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        let res = get(&app, path, None).await;
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers();
        let header = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            header("content-type").starts_with(media),
            "{path}: {}",
            header("content-type")
        );
        let csp = header("content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
    }
}

#[tokio::test]
async fn the_console_page_loads_nothing_from_elsewhere_and_runs_no_inline_script() {
    let app = app().await;
    let html = get(&app, "/console/", None).await.text().await.unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"), "{html}");
    assert!(!html.contains("<script>") && !html.contains("style="), "{html}");
}

#[tokio::test]
async fn an_unknown_console_file_is_a_json_404() {
    let app = app().await;
    for path in ["/console/secrets.txt", "/console/..%2Fopenapi.yaml"] {
        let res = get(&app, path, None).await;
        assert_eq!(res.status(), 404, "{path}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn whoami_lists_the_scopes_of_the_token_and_never_the_token() {
    let app = app().await;
    for (token, scopes) in [
        (ADMIN_TOKEN, vec!["admin", "compliance", "analyst", "rtb", "ops"]),
        (DPO_TOKEN, vec!["compliance"]),
        (ANALYST_TOKEN, vec!["analyst"]),
    ] {
        let res = get(&app, "/v1/admin/whoami", Some(token)).await;
        assert_eq!(res.status(), 200);
        let text = res.text().await.unwrap();
        assert!(!text.contains(token));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["scopes"], serde_json::json!(scopes));
    }
}

#[tokio::test]
async fn whoami_refuses_a_wrong_or_missing_token() {
    let app = app().await;
    let wrong = "not-a-configured-token-0123456789abcdefgh";
    let res = get(&app, "/v1/admin/whoami", Some(wrong)).await;
    assert_eq!(res.status(), 401);
    assert!(!res.text().await.unwrap().contains(wrong));
    assert_eq!(get(&app, "/v1/admin/whoami", None).await.status(), 401);
}

#[tokio::test]
async fn the_experiment_list_names_each_experiment_its_slot_and_arms_for_analysts_only() {
    let app = app().await;
    let res = get(&app, "/v1/admin/reports/experiments", Some(ANALYST_TOKEN)).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let e = &v["experiments"][0];
    assert_eq!(e["id"], "mortgage_hero_2026q4");
    assert_eq!(e["slot"], "hero");
    assert_eq!(e["segment"], "mortgage_intent");
    assert_eq!(e["holdout_percent"], 10);
    assert_eq!(e["arms"].as_array().map(Vec::len), Some(2));
    assert_eq!(e["goals"], serde_json::json!(["mortgage_application"]));
    assert_eq!(v["rules_version"], app.rules_version);
    let res = get(&app, "/v1/admin/reports/experiments", Some(DPO_TOKEN)).await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn the_record_lists_every_slot_and_what_a_sensitive_segment_is_shown() {
    let app = app().await;
    let v: Value = get(&app, "/v1/admin/compliance", Some(DPO_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    let slots = v["slots"].as_array().unwrap();
    let ids: Vec<&str> = slots.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, ["hero", "sidebar"]);
    let sidebar = &slots[1];
    let bereavement = sidebar["shown"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["segment"] == "bereavement_support")
        .expect("the bereavement segment has a sidebar rule");
    assert_eq!(bereavement["variant"], "bereavement_contacts");
    let hero = &slots[0];
    assert!(hero["shown"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["experiment"] == "mortgage_hero_2026q4"));
}
