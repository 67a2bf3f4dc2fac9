//! Attacks a client with public access can make at the request edge, each followed by the defence:
//! free text into the consent log, floods, cross-site writes, forged country and address headers,
//! echoed input, guessable visitor ids, amplified answers and trickled bodies.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use personify::config::RouteLimit;
use serde_json::{json, Value};

use crate::helpers::machine::timing_test;
use crate::helpers::*;

/// A consent body with the shipped closed-set values.
fn consent_body(visitor: &str) -> Value {
    json!({"visitor_id": visitor, "purposes": {"personalize": true, "measure": true, "advertise": false},
           "source": "cmp", "policy_version": "2026-11"})
}

/// Entries in the consent log, as the admin export shows them.
async fn log_entries(app: &TestApp) -> Vec<Value> {
    let v: Value = app.admin_get("/v1/admin/consent/log").await.json().await.unwrap();
    v["entries"].as_array().cloned().unwrap_or_default()
}

/// POSTs with extra headers (each sent as given; a repeated name is sent twice).
async fn post_with(app: &TestApp, path: &str, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

// 1. Personal data into the permanent log.

#[tokio::test]
async fn consent_source_outside_closed_set_is_refused_and_not_stored() {
    let app = spawn_app().await;
    let visitor = vid("closed-set");
    for (field, value) in [
        ("source", "203.0.113.77"),
        ("source", "jane.doe@example.com"),
        ("policy_version", "4111111111111111"),
        ("policy_version", "GB82WEST12345698765432"),
    ] {
        let mut body = consent_body(&visitor);
        body[field] = json!(value);
        let res = app.post("/v1/consent", &body).await;
        assert_eq!(res.status(), 400, "{field}={value}");
        let text = res.text().await.unwrap();
        assert!(!text.contains(value), "the value was echoed: {text}");
        let e: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(e["error"]["field"], field);
    }
    let mut opt_out = json!({"visitor_id": visitor, "source": "+44 20 7946 0958"});
    assert_eq!(app.post("/v1/opt-out", &opt_out).await.status(), 400);
    assert!(log_entries(&app).await.is_empty(), "a refused consent reached the log");
    let status: Value = app
        .post("/v1/consent/status", &json!({"visitor_id": visitor}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["recorded"], false);

    // The closed-set values are accepted and are all that is stored.
    assert_eq!(app.post("/v1/consent", &consent_body(&visitor)).await.status(), 201);
    opt_out["source"] = json!("preference_centre");
    assert_eq!(app.post("/v1/opt-out", &opt_out).await.status(), 201);
    let entries = log_entries(&app).await;
    let stored: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["source"].as_str().unwrap(), e["policy_version"].as_str().unwrap()))
        .collect();
    assert_eq!(stored, [("cmp", "2026-11"), ("preference_centre", "-")]);
}

#[tokio::test]
async fn consent_closed_sets_follow_configuration() {
    let app = spawn_app_with(|s| {
        s.consent.sources = vec!["kiosk".into()];
        s.consent.policy_versions = vec!["2027-01".into(), "2026-11".into()];
    })
    .await;
    let mut body = consent_body(&vid("configured"));
    assert_eq!(
        app.post("/v1/consent", &body).await.status(),
        400,
        "cmp is no longer listed"
    );
    body["source"] = json!("kiosk");
    body["policy_version"] = json!("2027-01");
    assert_eq!(app.post("/v1/consent", &body).await.status(), 201);
}

// 5. Rate.

fn tight(per_minute: u32, burst: u32) -> RouteLimit {
    let n = |v: u32| std::num::NonZeroU32::new(v).expect("a positive rate");
    RouteLimit {
        per_minute: n(per_minute),
        burst: n(burst),
    }
}

#[tokio::test]
async fn consent_flood_from_one_network_gets_429_with_retry_after_and_is_not_stored() {
    let app = spawn_app_with(|s| {
        s.limits.enabled = true;
        s.limits.consent = tight(1, 3);
    })
    .await;
    for i in 0..3 {
        let res = app
            .post("/v1/consent", &consent_body(&vid(&format!("flood-{i}"))))
            .await;
        assert_eq!(res.status(), 201);
    }
    let res = app.post("/v1/consent", &consent_body(&vid("flood-over"))).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["code"], "rate_limited");
    assert_eq!(log_entries(&app).await.len(), 3, "the refused consent was stored");
    // Other routes have their own buckets; decide is not limited.
    assert_eq!(
        app.decide(&page("https://bank.example/"), Some("US")).await.status(),
        200
    );
}

#[tokio::test]
async fn every_limited_route_answers_429_past_its_burst() {
    let app = spawn_app_with(|s| {
        s.limits.enabled = true;
        let r = tight(1, 2);
        (s.limits.consent_status, s.limits.opt_out, s.limits.events) = (r, r, r);
    })
    .await;
    let visitor = vid("limited-routes");
    let event = json!({"type": "conversion", "goal": "mortgage_application",
                       "page": {"url": "https://bank.example/mortgages/apply/done"}});
    for (path, body) in [
        ("/v1/consent/status", json!({"visitor_id": visitor})),
        ("/v1/opt-out", json!({"visitor_id": visitor})),
        ("/v1/events", event),
    ] {
        let statuses: Vec<u16> = {
            let mut out = Vec::new();
            for _ in 0..3 {
                out.push(app.post(path, &body).await.status().as_u16());
            }
            out
        };
        assert_eq!(statuses[2], 429, "{path}: {statuses:?}");
        assert!(statuses[..2].iter().all(|s| *s != 429), "{path}: {statuses:?}");
    }
}

#[tokio::test]
async fn rate_limit_is_per_network_so_address_hopping_inside_a_slash_24_does_not_help() {
    let app = spawn_app_with(|s| {
        s.limits.enabled = true;
        s.limits.consent = tight(1, 1);
        s.server.client_ip_header = Some(personify::config::HeaderName::from_static("x-forwarded-for"));
    })
    .await;
    let app = &app;
    let send = |ip: &'static str, label: &'static str| {
        let body = consent_body(&vid(label));
        async move {
            post_with(app, "/v1/consent", &body, &[("X-Forwarded-For", ip)])
                .await
                .status()
        }
    };
    assert_eq!(send("198.51.100.7", "hop-1").await, 201);
    assert_eq!(send("198.51.100.200", "hop-2").await, 429, "same /24, same bucket");
    assert_eq!(
        send("203.0.113.9", "hop-3").await,
        201,
        "another network has its own bucket"
    );
    assert_eq!(send("2001:db8:aa:1::1", "hop-4").await, 201);
    assert_eq!(
        send("2001:db8:aa:ffff::2", "hop-5").await,
        429,
        "same IPv6 /48, same bucket"
    );
}

// 6. Cross-site writes.

#[tokio::test]
async fn cross_site_text_plain_consent_is_refused_and_not_stored() {
    let app =
        spawn_app_with(|s| s.cors.allowed_origins = vec!["https://www.bank.example".parse().expect("origin")]).await;
    let body = consent_body(&vid("cross-site")).to_string();
    for origin in [
        "https://evil.example",
        "null",
        "https://www.bank.example.evil.example",
        "not an origin",
    ] {
        let res = app
            .client
            .post(app.url("/v1/consent"))
            .header("Content-Type", "text/plain")
            .header("Origin", origin)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{origin}");
        let e: Value = res.json().await.unwrap();
        assert_eq!(e["error"]["code"], "origin_not_allowed");
    }
    assert!(log_entries(&app).await.is_empty());
    // The listed origin may write; so may a server-to-server call without Origin.
    let allowed = app
        .client
        .post(app.url("/v1/consent"))
        .header("Content-Type", "text/plain")
        .header("Origin", "https://www.bank.example")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 201);
    assert_eq!(
        app.post("/v1/consent", &consent_body(&vid("server"))).await.status(),
        201
    );
    assert_eq!(log_entries(&app).await.len(), 2);
}

#[tokio::test]
async fn foreign_origins_cannot_post_page_views_events_or_opt_outs() {
    let app = spawn_app().await;
    let visitor = vid("foreign");
    let evil = [("Origin", "https://evil.example")];
    let event = json!({"type": "conversion", "goal": "mortgage_application",
                       "page": {"url": "https://bank.example/mortgages/apply/done"}});
    for (path, body) in [
        ("/v1/decide", page("https://bank.example/students/")),
        ("/v1/events", event),
        ("/v1/opt-out", json!({"visitor_id": visitor})),
        ("/v1/consent/status", json!({"visitor_id": visitor})),
    ] {
        assert_eq!(post_with(&app, path, &body, &evil).await.status(), 403, "{path}");
    }
    assert!(log_entries(&app).await.is_empty(), "a cross-site opt-out was stored");
    // personify's own origin (Chrome sends Origin on same-origin POSTs) passes.
    let own = app.address.clone();
    let res = post_with(&app, "/v1/decide", &page("https://bank.example/"), &[("Origin", &own)]).await;
    assert_eq!(res.status(), 200);
    // Two Origin headers are not an origin.
    let twice = [("Origin", own.as_str()), ("Origin", "https://evil.example")];
    let res = post_with(&app, "/v1/decide", &page("https://bank.example/"), &twice).await;
    assert_eq!(res.status(), 403);
}

// 8. Country from any client.

async fn consent_for_country(app: &TestApp, countries: &[&str]) -> Value {
    let headers: Vec<(&str, &str)> = countries.iter().map(|c| ("CF-IPCountry", *c)).collect();
    let res = post_with(app, "/v1/decide", &page("https://bank.example/savings"), &headers).await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["consent"].clone()
}

#[tokio::test]
async fn country_header_from_an_untrusted_peer_is_ignored() {
    // The test client connects from 127.0.0.1, which is not among these proxies.
    let app = spawn_app_with(|s| s.server.trusted_proxies = vec!["10.0.0.0/8".parse().expect("cidr")]).await;
    let c = consent_for_country(&app, &["US"]).await;
    assert_eq!(c["basis"], "jurisdiction_opt_in", "a forged country was believed: {c}");
    assert_eq!(c["personalize"], false);

    let trusted = spawn_app().await;
    assert_eq!(
        consent_for_country(&trusted, &["US"]).await["basis"],
        "jurisdiction_opt_out"
    );
}

#[tokio::test]
async fn repeated_country_header_with_different_values_counts_as_unknown() {
    let app = spawn_app().await;
    let c = consent_for_country(&app, &["US", "DE"]).await;
    assert_eq!(c["basis"], "jurisdiction_opt_in", "{c}");
    assert_eq!(c["advertise"], false);
    let same = consent_for_country(&app, &["US", "US"]).await;
    assert_eq!(same["basis"], "jurisdiction_opt_out", "{same}");
}

#[tokio::test]
async fn forwarded_address_is_the_rightmost_hop_that_is_not_a_trusted_proxy() {
    let app = spawn_app_with(|s| {
        s.limits.enabled = true;
        s.limits.consent = tight(1, 1);
        s.server.client_ip_header = Some(personify::config::HeaderName::from_static("x-forwarded-for"));
    })
    .await;
    let app = &app;
    let send = |xff: &'static str, label: &'static str| {
        let body = consent_body(&vid(label));
        async move {
            post_with(app, "/v1/consent", &body, &[("X-Forwarded-For", xff)])
                .await
                .status()
        }
    };
    assert_eq!(send("1.2.3.4, 198.51.100.7", "xff-1").await, 201);
    // A client writing anything it likes on the left is still 198.51.100.7 to us.
    assert_eq!(send("9.9.9.9, 198.51.100.7", "xff-2").await, 429);
    // Trusted proxies on the right are skipped.
    assert_eq!(send("198.51.100.7, 127.0.0.1", "xff-3").await, 429);
    assert_eq!(send("198.51.100.7, 203.0.113.40", "xff-4").await, 201);
}

#[tokio::test]
async fn forwarded_address_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(|s| {
        s.limits.enabled = true;
        s.limits.consent = tight(1, 1);
        s.server.client_ip_header = Some(personify::config::HeaderName::from_static("x-forwarded-for"));
        s.server.trusted_proxies = vec!["10.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let body = |label: &str| consent_body(&vid(label));
    let first = post_with(
        &app,
        "/v1/consent",
        &body("u-1"),
        &[("X-Forwarded-For", "198.51.100.7")],
    )
    .await;
    assert_eq!(first.status(), 201);
    // A new address per request would dodge the limit if the header were believed.
    let second = post_with(&app, "/v1/consent", &body("u-2"), &[("X-Forwarded-For", "203.0.113.9")]).await;
    assert_eq!(second.status(), 429);
}

// 11. Errors echo input.

#[tokio::test]
async fn errors_name_the_field_and_rule_never_the_value() {
    let app = spawn_app().await;
    let canary = "canary.q9z@example.com";
    let mut unknown_purpose = consent_body(&vid("echo"));
    unknown_purpose["purposes"] = json!({ canary: true });
    let cases = [
        ("/v1/consent", unknown_purpose, "purposes"),
        ("/v1/decide", page("canaryscheme://bank.example/"), "page.url"),
        ("/v1/decide", page("javascript:canary.q9z()"), "page.url"),
        (
            "/v1/decide",
            json!({"page": {"url": "https://bank.example/"}, "visitor_id": canary}),
            "visitor_id",
        ),
        ("/v1/consent/status", json!({"visitor_id": canary}), "visitor_id"),
    ];
    for (path, body, field) in cases {
        let res = app.post(path, &body).await;
        assert_eq!(res.status(), 400, "{path} {body}");
        let text = res.text().await.unwrap();
        assert!(!text.contains("canary"), "{path} echoed input: {text}");
        let e: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(e["error"]["field"], field, "{text}");
    }
}

// 12. Two parsers for one id.

#[tokio::test]
async fn guessable_visitor_ids_are_refused_on_every_route() {
    let app = spawn_app().await;
    let event = |id: &str| {
        json!({"type": "conversion", "goal": "mortgage_application", "visitor_id": id,
               "page": {"url": "https://bank.example/mortgages/apply/done"}})
    };
    for id in [
        "1",
        "jane@example.com",
        "00000000-0000-0000-0000-000000000000",
        "short-id-123",
    ] {
        let mut consent = consent_body(id);
        consent["visitor_id"] = json!(id);
        let routes = [
            (
                "/v1/decide",
                json!({"page": {"url": "https://bank.example/"}, "visitor_id": id}),
            ),
            ("/v1/events", event(id)),
            ("/v1/consent", consent),
            ("/v1/consent/status", json!({"visitor_id": id})),
            ("/v1/opt-out", json!({"visitor_id": id})),
        ];
        for (path, body) in routes {
            let res = app.post(path, &body).await;
            assert_eq!(res.status(), 400, "{path} accepted {id:?}");
            let e: Value = res.json().await.unwrap();
            assert_eq!(e["error"]["field"], "visitor_id", "{path}");
            assert!(e["error"]["message"].as_str().unwrap().contains("randomUUID"), "{e}");
        }
    }
    assert!(log_entries(&app).await.is_empty());
    // What the README tells a site to send works everywhere.
    let good = "f3b1c9e0-7a4d-4c1e-9a55-1d2e3f4a5b6c";
    assert_eq!(app.post("/v1/consent", &consent_body(good)).await.status(), 201);
    let b64 = "q7Vh2LxN0pRk-3sTz_9WfA";
    assert_eq!(
        app.post("/v1/consent/status", &json!({"visitor_id": b64}))
            .await
            .status(),
        200
    );
}

#[test]
fn an_admin_token_shorter_than_32_characters_stops_the_configuration_loading() {
    // Refused when the configuration loads, so `check` refuses it too and `serve` never starts.
    let env: std::collections::HashMap<String, String> =
        [("PERSONIFY__AUTH__ADMIN_TOKEN".to_string(), "admin123".to_string())].into();
    let err = personify::config::Settings::load_with_env(
        &crate::helpers::manifest_dir().join("config"),
        config::Environment::with_prefix("PERSONIFY").source(Some(env)),
    )
    .expect_err("a short admin token is refused")
    .to_string();
    assert!(err.contains("at least 32 characters"), "{err}");
    assert!(err.contains("auth.admin_token"), "{err}");
    assert!(!err.contains("admin123"), "the token was printed: {err}");
}

// 14. Amplification.

#[tokio::test]
async fn four_thousand_unknown_slot_ids_get_a_small_answer() {
    let app = spawn_app_with(|s| s.server.max_body_bytes = 64 * 1024).await;
    let slots: Vec<String> = (0..4000).map(|i| format!("u{i}")).collect();
    let body = json!({"page": {"url": "https://bank.example/mortgages"}, "slots": slots});
    let sent = body.to_string().len();
    let res = app.decide(&body, Some("US")).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        text.len() < 4096 && text.len() < sent / 4,
        "answer {} bytes for {sent} sent",
        text.len()
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    let warnings = v["warnings"].as_array().unwrap();
    assert!(warnings.len() <= 16);
    assert_eq!(warnings[0]["code"], "unknown_slot");
    let last = warnings.last().unwrap();
    assert_eq!(last["code"], "warnings_suppressed");
    assert!(last["message"].as_str().unwrap().starts_with("3999 more"), "{last}");
}

// 15. Slow bodies.

#[tokio::test]
async fn a_body_trickled_at_one_byte_per_second_gets_408() {
    let _timing = timing_test().await;
    let app = spawn_app_with(|s| s.server.body_timeout_seconds = 2).await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let started = Instant::now();
    let read = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let head = "POST /v1/consent HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        // One byte a second (reads wait 200 ms), for up to 30 s, until the server answers.
        for i in 0..150 {
            if i % 5 == 0 {
                let _ = stream.write_all(b" ");
            }
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                        break;
                    }
                }
                Err(_) => {}
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    let elapsed = started.elapsed();
    assert!(read.starts_with("HTTP/1.1 408"), "{read}");
    assert!(read.contains("request_timeout"), "{read}");
    assert!(elapsed < Duration::from_secs(6), "held for {elapsed:?}");
    assert!(log_entries(&app).await.is_empty());
}

#[tokio::test]
async fn percent_encoded_paths_do_not_slip_past_the_origin_check() {
    let app = spawn_app().await;
    let body = consent_body(&vid("encoded"));
    for path in ["/v1/%63onsent", "/v1/consent%2Fstatus", "/v1/%6fpt-out", "/v1/consent/"] {
        let res = post_with(&app, path, &body, &[("Origin", "https://evil.example")]).await;
        assert!(res.status() == 403 || res.status() == 404, "{path}: {}", res.status());
    }
    assert!(log_entries(&app).await.is_empty(), "a cross-site consent was stored");
}

#[tokio::test]
async fn own_origin_scheme_comes_only_from_a_trusted_proxy() {
    let https_own = |app: &TestApp| app.address.replace("http://", "https://");
    let trusted = spawn_app().await;
    let origin = https_own(&trusted);
    let headers = [("Origin", origin.as_str()), ("X-Forwarded-Proto", "https")];
    let res = post_with(&trusted, "/v1/decide", &page("https://bank.example/"), &headers).await;
    assert_eq!(res.status(), 200, "TLS ended at the trusted proxy in front");
    let res = post_with(&trusted, "/v1/decide", &page("https://bank.example/"), &headers[..1]).await;
    assert_eq!(res.status(), 403, "no proxy said https");

    let untrusted = spawn_app_with(|s| s.server.trusted_proxies = vec!["10.0.0.0/8".parse().expect("cidr")]).await;
    let origin = https_own(&untrusted);
    let headers = [("Origin", origin.as_str()), ("X-Forwarded-Proto", "https")];
    let res = post_with(&untrusted, "/v1/decide", &page("https://bank.example/"), &headers).await;
    assert_eq!(res.status(), 403, "X-Forwarded-Proto from a client was believed");
}
