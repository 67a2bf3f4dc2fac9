//! The OFREP routes end to end: flags as the protocol shapes them, errors as it names them, the bulk
//! ETag following consent, what each call counts, CORS for OpenFeature's web provider.

use serde_json::{json, Value};

use crate::helpers::*;

const BULK: &str = "/ofrep/v1/evaluate/flags";
const MORTGAGES: &str = "https://bank.example/mortgages/fixed-rate";

fn context(visitor: &str) -> Value {
    json!({"context": {"targetingKey": visitor, "url": MORTGAGES, "referrer": "https://www.google.co.uk/"}})
}

/// POSTs an OFREP body as a US desktop browser's server would.
async fn ofrep(app: &TestApp, path: &str, body: &Value, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(path))
        .header("User-Agent", DESKTOP_UA)
        .header("CF-IPCountry", "US");
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.json(body).send().await.expect("request sent")
}

fn flag<'a>(bulk: &'a Value, key: &str) -> &'a Value {
    bulk["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .find(|f| f["key"] == key)
        .unwrap_or_else(|| panic!("no flag {key} in {bulk}"))
}

#[tokio::test]
async fn bulk_evaluation_answers_every_slot_as_an_object_flag_without_segment_ids() {
    let app = spawn_app().await;
    let visitor = vid("ofrep-bulk");
    let res = ofrep(&app, BULK, &context(&visitor), &[]).await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let text = res.text().await.unwrap();
    assert!(!text.contains("mortgage_intent"), "a segment id in {text}");
    let bulk: Value = serde_json::from_str(&text).unwrap();

    // The same page view through decide: each flag is its slot's decision.
    let decided = app
        .decide_ok(&json!({"page": {"url": MORTGAGES, "referrer": "https://www.google.co.uk/"}, "visitor_id": visitor}))
        .await;
    let slots = decided["decisions"].as_object().unwrap();
    assert_eq!(bulk["flags"].as_array().unwrap().len(), slots.len());
    for (slot, d) in slots {
        let f = flag(&bulk, slot);
        assert_eq!(f["value"], d["content"], "{slot}");
        assert!(f["value"].is_object(), "{slot}");
        assert_eq!(f["variant"], d["variant"], "{slot}");
    }
    assert_eq!(flag(&bulk, "sidebar")["reason"], "TARGETING_MATCH");
    let hero = flag(&bulk, "hero");
    assert_eq!(hero["reason"], "SPLIT");
    assert_eq!(hero["metadata"]["experiment"], "mortgage_hero_2026q4");
    assert_eq!(
        hero["metadata"]["arm"],
        decided["decisions"]["hero"]["experiment"]["arm"]
    );
    assert_eq!(
        bulk["metadata"],
        json!({"personalize": true, "measure": true, "advertise": true,
               "consent_basis": "jurisdiction_opt_out", "rules_version": app.rules_version})
    );
}

#[tokio::test]
async fn the_bulk_etag_follows_consent_so_an_opt_out_is_never_answered_304() {
    let app = spawn_app().await;
    let visitor = vid("ofrep-etag");
    let first = ofrep(&app, BULK, &context(&visitor), &[]).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_string();

    let again = ofrep(&app, BULK, &context(&visitor), &[("If-None-Match", &etag)]).await;
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let listed = format!("\"something-else\", W/{etag}");
    let weak = ofrep(&app, BULK, &context(&visitor), &[("If-None-Match", &listed)]).await;
    assert_eq!(weak.status(), 304);

    let res = app.post("/v1/opt-out", &json!({"visitor_id": visitor})).await;
    assert!(res.status().is_success(), "{}", res.status());
    let after = ofrep(&app, BULK, &context(&visitor), &[("If-None-Match", &etag)]).await;
    assert_eq!(after.status(), 200, "the rules did not change, the answer did");
    assert_ne!(after.headers()["etag"].to_str().unwrap(), etag);
    let bulk: Value = after.json().await.unwrap();
    assert_eq!(bulk["metadata"]["consent_basis"], "opt_out");
    assert_eq!(bulk["metadata"]["personalize"], false);
    for f in bulk["flags"].as_array().unwrap() {
        assert_eq!(f["reason"], "DISABLED", "{f}");
        assert!(f.get("metadata").is_none(), "{f}");
    }
    assert_eq!(flag(&bulk, "sidebar")["variant"], "generic_help");
}

#[tokio::test]
async fn a_single_flag_is_its_slot_with_the_consent_as_metadata() {
    let app = spawn_app().await;
    let res = ofrep(
        &app,
        "/ofrep/v1/evaluate/flags/sidebar",
        &context(&vid("ofrep-one")),
        &[],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("etag").is_none());
    let f: Value = res.json().await.unwrap();
    assert_eq!(f["key"], "sidebar");
    assert_eq!(f["variant"], "mortgage_advisor_callback");
    assert_eq!(f["reason"], "TARGETING_MATCH");
    assert_eq!(f["value"]["title"], "Talk to a mortgage adviser");
    assert_eq!(f["metadata"]["consent_basis"], "jurisdiction_opt_out");
    assert_eq!(f["metadata"]["personalize"], true);

    // No consent in an opt-in country: the default, DISABLED; a page no segment targets: STATIC.
    let res = app
        .client
        .post(app.url("/ofrep/v1/evaluate/flags/sidebar"))
        .header("User-Agent", DESKTOP_UA)
        .header("CF-IPCountry", "DE")
        .json(&context(&vid("ofrep-one")))
        .send()
        .await
        .unwrap();
    let f: Value = res.json().await.unwrap();
    assert_eq!(
        (&f["reason"], &f["variant"]),
        (&json!("DISABLED"), &json!("generic_help"))
    );
    let plain = json!({"context": {"url": "https://bank.example/about-us"}});
    let f: Value = ofrep(&app, "/ofrep/v1/evaluate/flags/sidebar", &plain, &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&f["reason"], &f["variant"]),
        (&json!("STATIC"), &json!("generic_help"))
    );
}

#[tokio::test]
async fn errors_are_named_as_the_protocol_names_them_and_never_repeat_the_request() {
    let app = spawn_app().await;
    let email = "jane.ofrep@example.com";
    let cases = [
        (
            "/ofrep/v1/evaluate/flags/jane.ofrep@example.com",
            context(&vid("x")),
            "",
            404,
            "FLAG_NOT_FOUND",
            None,
        ),
        (
            "/ofrep/v1/evaluate/flags/hero",
            json!({"context": {"targetingKey": email, "url": MORTGAGES}}),
            "",
            400,
            "INVALID_CONTEXT",
            Some("context.targetingKey"),
        ),
        (
            BULK,
            json!({"context": {"targetingKey": email, "url": MORTGAGES}}),
            "",
            400,
            "INVALID_CONTEXT",
            Some("context.targetingKey"),
        ),
        (
            BULK,
            json!({"context": {"targetingKey": vid("x")}}),
            "",
            400,
            "INVALID_CONTEXT",
            Some("context.url"),
        ),
        (BULK, json!({}), "", 400, "INVALID_CONTEXT", Some("context")),
        (
            "/ofrep/v1/evaluate/flags/hero",
            Value::Null,
            "{\"context\": {\"url\": \"jane.ofrep@example.com",
            400,
            "PARSE_ERROR",
            None,
        ),
    ];
    for (path, body, raw, status, code, names) in cases {
        let req = app
            .client
            .post(app.url(path))
            .header("Content-Type", "application/json");
        let req = if raw.is_empty() {
            req.body(body.to_string())
        } else {
            req.body(raw.to_string())
        };
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), status, "{path} {body}");
        let text = res.text().await.unwrap();
        assert!(!text.contains("jane.ofrep"), "{path}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["errorCode"], code, "{path}: {text}");
        if let Some(field) = names {
            assert!(v["errorDetails"].as_str().unwrap().contains(field), "{path}: {text}");
        }
        match path {
            BULK => assert!(v.get("key").is_none(), "{text}"),
            p if p.ends_with("/hero") => assert_eq!(v["key"], "hero", "{text}"),
            _ => assert_eq!(v["key"], "", "an unknown key is not repeated: {text}"),
        }
    }
}

#[tokio::test]
async fn other_context_attributes_are_ignored_and_consent_mode_in_the_context_withholds() {
    let app = spawn_app().await;
    let body = json!({"context": {"targetingKey": vid("ofrep-cm"), "url": MORTGAGES, "email": "jane.ofrep@example.com",
        "plan": "premium", "consent": {"google_consent_mode": {"personalization_storage": "denied", "ad_storage": "granted"}}}});
    let res = ofrep(&app, BULK, &body, &[]).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains("jane.ofrep"), "{text}");
    let bulk: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(bulk["metadata"]["consent_basis"], "google_consent_mode");
    assert_eq!(bulk["metadata"]["personalize"], false);
    assert_eq!(bulk["metadata"]["measure"], true);
    assert_eq!(bulk["metadata"]["warnings"], "unknown_field");
    assert_eq!(flag(&bulk, "sidebar")["reason"], "DISABLED");
}

/// What the store holds after a flush: today's views of `mortgage_intent` (reports release only
/// closed days) and the hero experiment's exposed units (exact; a report re-releases only in steps
/// of k networks, and every test client is one loopback network).
async fn counted(app: &TestApp) -> (Value, Value) {
    // Any report flushes the node's counts first.
    let res = app
        .admin_get("/v1/admin/reports/experiments/mortgage_hero_2026q4")
        .await;
    assert_eq!(res.status(), 200);
    let url = format!("sqlite://{}/personify.db?mode=ro", app.data_dir.path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("the store opens");
    let views: Option<i64> =
        sqlx::query_scalar("SELECT SUM(value) FROM counters WHERE kind = 'views' AND key = 'mortgage_intent'")
            .fetch_one(&pool)
            .await
            .expect("views read");
    pool.close().await;
    let units = crate::helpers::stored_units(app.data_dir.path(), "mortgage_hero_2026q4", None).await;
    (views.map_or(Value::Null, |v| json!(v)), json!(units))
}

#[tokio::test]
async fn a_bulk_call_is_one_page_view_a_flag_its_exposure_only_and_a_304_nothing() {
    let app = spawn_app_with(|s| s.privacy.k = 1).await;
    assert_eq!(counted(&app).await, (Value::Null, json!(0)));
    let first = ofrep(&app, BULK, &context(&vid("ofrep-count-1")), &[]).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(counted(&app).await, (json!(1), json!(1)));

    let res = ofrep(&app, BULK, &context(&vid("ofrep-count-1")), &[("If-None-Match", &etag)]).await;
    assert_eq!(res.status(), 304);
    assert_eq!(counted(&app).await, (json!(1), json!(1)), "a 304 counts nothing");

    let other = context(&vid("ofrep-count-2"));
    let res = ofrep(&app, "/ofrep/v1/evaluate/flags/sidebar", &other, &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        counted(&app).await,
        (json!(1), json!(1)),
        "a slot without an experiment counts nothing"
    );
    let res = ofrep(&app, "/ofrep/v1/evaluate/flags/hero", &other, &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        counted(&app).await,
        (json!(1), json!(2)),
        "the hero flag is the second visitor's exposure, not a page view"
    );
}

#[tokio::test]
async fn a_previewed_evaluation_says_so_and_is_never_counted() {
    let app = spawn_app_with(|s| s.privacy.k = 1).await;
    let token: Value = app
        .client
        .post(app.url("/v1/admin/preview"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"segments": ["savers"], "expires_in_seconds": 60}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().expect("a preview token").to_string();
    let res = ofrep(
        &app,
        BULK,
        &context(&vid("ofrep-preview")),
        &[("Personify-Preview", &token)],
    )
    .await;
    assert_eq!(res.status(), 200);
    let bulk: Value = res.json().await.unwrap();
    assert_eq!(bulk["metadata"]["preview"], true);
    assert_eq!(bulk["metadata"]["consent_basis"], "preview");
    assert_eq!(counted(&app).await, (Value::Null, json!(0)));
}

#[tokio::test]
async fn browsers_on_allowed_origins_may_send_if_none_match_and_read_the_etag() {
    let app = spawn_app_with(|s| s.cors.allowed_origins = vec!["https://bank.example".parse().unwrap()]).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url(BULK))
        .header("Origin", "https://bank.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type,if-none-match")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("if-none-match") && allowed.contains("content-type"),
        "{allowed}"
    );

    let res = ofrep(
        &app,
        BULK,
        &context(&vid("ofrep-cors")),
        &[("Origin", "https://bank.example")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("etag"), "{exposed}");

    let res = ofrep(
        &app,
        BULK,
        &context(&vid("ofrep-cors")),
        &[("Origin", "https://evil.example")],
    )
    .await;
    assert_eq!(res.status(), 403);
}
