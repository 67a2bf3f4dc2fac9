//! Preview tokens for UAT: minted by an analyst, they force segments and variants on the page views
//! that carry them; such views say `"preview": true`, are never counted, and a forged or expired
//! token is ignored with a warning that never repeats it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use personify::domain::pageview::preview::{Grant, PreviewKey, KEY_NAME};
use personify::domain::privacy::Secret;
use serde_json::{json, Value};

use crate::helpers::closed_day::{day_cell, ClosedDay};
use crate::helpers::*;

async fn mint(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/admin/preview"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

async fn minted(app: &TestApp, body: &Value) -> String {
    let res = mint(app, ADMIN_TOKEN, body).await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    v["token"].as_str().expect("a token").to_string()
}

/// A decide call for a German visitor (opt-in, no consent): without a preview, nothing is
/// personalised, so whatever a preview shows comes from the token.
async fn decide_previewed(app: &TestApp, url: &str, header: Option<&str>, body_token: Option<&str>) -> Value {
    let mut body = json!({"page": {"url": url}, "visitor_id": vid("previewer")});
    if let Some(t) = body_token {
        body["preview"] = json!(t);
    }
    let extra: Vec<(&str, &str)> = header.map(|t| ("Personify-Preview", t)).into_iter().collect();
    let res = app.decide_with(&body, Some("DE"), &extra).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_valid_token_forces_its_segments_and_variants_in_the_header_or_the_body() {
    let app = spawn_app().await;
    let token = minted(
        &app,
        &json!({"segments": ["savers"], "variants": {"sidebar": "business_support"}}),
    )
    .await;
    for (header, body) in [(Some(token.as_str()), None), (None, Some(token.as_str()))] {
        let v = decide_previewed(&app, "https://bank.example/students", header, body).await;
        assert_eq!(v["preview"], true, "{v}");
        assert_eq!(segment_ids(&v), ["savers"]);
        assert_eq!(variant(&v, "hero"), "savings_isa");
        assert_eq!(variant(&v, "sidebar"), "business_support");
        assert_eq!(v["consent"]["basis"], "preview");
        assert_eq!(v["consent"]["measure"], false);
        assert_eq!(v["consent"]["advertise"], false);
    }
    // The same page view without the token: a German visitor without consent gets the defaults.
    let plain = decide_previewed(&app, "https://bank.example/students", None, None).await;
    assert!(plain.get("preview").is_none(), "{plain}");
    assert_eq!(variant(&plain, "hero"), "generic");
}

#[tokio::test]
async fn a_sensitive_segment_can_be_previewed_before_it_goes_live() {
    let app = spawn_app().await;
    let token = minted(&app, &json!({"segments": ["bereavement_support"]})).await;
    let v = decide_previewed(&app, "https://bank.example/", Some(&token), None).await;
    assert_eq!(variant(&v, "hero"), "bereavement_help");
    assert_eq!(variant(&v, "sidebar"), "bereavement_contacts");
}

#[tokio::test]
async fn a_forged_token_is_ignored_with_a_warning_that_does_not_repeat_it() {
    let app = spawn_app().await;
    let token = minted(&app, &json!({"segments": ["savers"]})).await;
    // Another installation's key, and this installation's token with its payload changed.
    let foreign = PreviewKey::new(&Secret::generate()).mint(&Grant {
        segments: vec!["savers".into()],
        variants: BTreeMap::new(),
        expires_at: u64::MAX / 2,
    });
    let (_, sig) = token.split_once('.').unwrap();
    let (body, _) = foreign.split_once('.').unwrap();
    for forged in [foreign.clone(), format!("{body}.{sig}"), "not-a-token".to_string()] {
        let v = decide_previewed(&app, "https://bank.example/students", Some(&forged), None).await;
        assert!(v.get("preview").is_none(), "{v}");
        assert_eq!(variant(&v, "hero"), "generic");
        let w = &v["warnings"][0];
        assert_eq!(w["code"], "preview_ignored");
        assert_eq!(w["field"], "preview");
        assert!(!v.to_string().contains(&forged), "the token came back: {v}");
    }
}

#[tokio::test]
async fn an_expired_token_is_ignored_with_a_warning() {
    let app = spawn_app().await;
    // A node sharing the store signs with the same key (first writer wins): mint one that expired
    // a minute ago.
    let url = format!("sqlite://{}/personify.db", app.data_dir.path().display());
    let store = personify::store::open(&url).await.expect("store opens");
    let key = PreviewKey::new(&Secret::from_bytes(
        store.secret(KEY_NAME, [0; 32]).await.expect("the key is shared"),
    ));
    let past = SystemTime::now() - Duration::from_secs(60);
    let expired = key.mint(&Grant {
        segments: vec!["savers".into()],
        variants: BTreeMap::new(),
        expires_at: past.duration_since(UNIX_EPOCH).unwrap().as_secs(),
    });
    let v = decide_previewed(&app, "https://bank.example/students", Some(&expired), None).await;
    assert!(v.get("preview").is_none(), "{v}");
    assert_eq!(v["warnings"][0]["code"], "preview_ignored");
    assert!(v["warnings"][0]["message"].as_str().unwrap().contains("expired"));
    // The same grant, still valid, from that key is honoured: the key really is this server's.
    let live = key.mint(&Grant {
        segments: vec!["savers".into()],
        variants: BTreeMap::new(),
        expires_at: SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600,
    });
    let v = decide_previewed(&app, "https://bank.example/students", Some(&live), None).await;
    assert_eq!(v["preview"], true, "{v}");
}

#[tokio::test]
async fn previewed_page_views_and_conversions_are_never_counted() {
    let Some(mut day) = ClosedDay::start(&[("PERSONIFY__PRIVACY__K", "1")]) else {
        return;
    };
    let app = &day.app;
    let token = minted(app, &json!({"segments": ["savers"]})).await;
    let page = json!({"url": "https://bank.example/savings/isa"});
    let body = json!({"page": page, "visitor_id": vid("uat"), "preview": token});
    for _ in 0..3 {
        let res = app.decide(&body, Some("US")).await;
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["preview"], true);
    }
    let event =
        json!({"type": "conversion", "goal": "signup", "page": page, "visitor_id": vid("uat"), "preview": token});
    let res = app.post("/v1/events", &event).await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.json::<Value>().await.unwrap()["counted"], false);
    // The same view once without the token is counted: the report would have shown the previews.
    let mut plain = body.clone();
    plain.as_object_mut().unwrap().remove("preview");
    assert_eq!(app.decide(&plain, Some("US")).await.status(), 200);
    day.next_morning();
    let report = day.day_report().await;
    assert_eq!(day_cell(&report, "savers")["views"], 1, "{report}");
}

#[tokio::test]
async fn minting_checks_every_id_and_the_lifetime_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (json!({"segments": ["savers", "no_such_segment"]}), "segments[1]"),
        (json!({"segments": ["savers", "savers"]}), "segments[1]"),
        (json!({"variants": {"no_such_slot": "generic"}}), "variants"),
        (json!({"variants": {"hero": "no_such_variant"}}), "variants.hero"),
        (json!({}), "segments"),
        (
            json!({"segments": ["savers"], "expires_in_seconds": 86_401}),
            "expires_in_seconds",
        ),
        (
            json!({"segments": ["savers"], "expires_in_seconds": 0}),
            "expires_in_seconds",
        ),
    ];
    for (body, field) in cases {
        let res = mint(&app, ADMIN_TOKEN, &body).await;
        assert_eq!(res.status(), 400, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
        assert!(!err.to_string().contains("no_such"), "{err}");
    }
    let res = mint(
        &app,
        ADMIN_TOKEN,
        &json!({"segments": ["savers"], "expires_in_seconds": 86_400}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let expires_at = v["expires_at"].as_u64().unwrap();
    assert!(expires_at > now + 86_000 && expires_at <= now + 86_400, "{v}");
    assert_eq!(v["url_parameter"], "personify_preview");
}

#[tokio::test]
async fn minting_needs_the_analyst_scope() {
    const ANALYST: &str = "analyst-token-for-preview-0123456789abcdef";
    const OPS: &str = "ops-token-for-preview-0123456789abcdef-xyz";
    let app = spawn_app_with(|s| {
        s.auth.tokens = vec![scoped_token(ANALYST, "analyst"), scoped_token(OPS, "ops")];
    })
    .await;
    let body = json!({"segments": ["savers"]});
    assert_eq!(mint(&app, ANALYST, &body).await.status(), 201);
    assert_eq!(mint(&app, OPS, &body).await.status(), 403);
    assert_eq!(app.post("/v1/admin/preview", &body).await.status(), 401);
}
