//! Bad input gets the right 4xx with `{"error": {"code", "message", "field"}}`, never a 500.

use serde_json::{json, Value};

use crate::helpers::*;

async fn error_of(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(res.headers()["content-type"], "application/json");
    let v: Value = res.json().await.unwrap();
    assert!(
        v["error"]["code"].is_string() && v["error"]["message"].is_string(),
        "{v}"
    );
    v["error"].clone()
}

async fn post_raw(app: &TestApp, body: impl Into<reqwest::Body>, content_type: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/decide"))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let e = error_of(
        post_raw(&app, r#"{"page": {"url": "https://bank.example/""#, "application/json").await,
        400,
    )
    .await;
    assert_eq!(e["code"], "malformed_json");
    let e = error_of(post_raw(&app, "page=1", "application/json").await, 400).await;
    assert_eq!(e["code"], "malformed_json");
    let e = error_of(post_raw(&app, "", "application/json").await, 400).await;
    assert_eq!(e["code"], "malformed_json");
}

#[tokio::test]
async fn wrong_types_name_the_field() {
    let app = spawn_app().await;
    let cases = [
        (json!({"page": {"url": 42}}), "page.url"),
        (json!({"page": "https://bank.example/"}), "page"),
        (
            json!({"page": {"url": "https://bank.example/"}, "session": {"pages_viewed": "many"}}),
            "session.pages_viewed",
        ),
        (
            json!({"page": {"url": "https://bank.example/"}, "session": {"pages_viewed": -1}}),
            "session.pages_viewed",
        ),
        (
            json!({"page": {"url": "https://bank.example/"}, "slots": "hero"}),
            "slots",
        ),
        (
            json!({"page": {"url": "https://bank.example/"}, "tz_offset_minutes": "+01:00"}),
            "tz_offset_minutes",
        ),
        (
            json!({"page": {"url": "https://bank.example/"}, "visitor_id": 12345}),
            "visitor_id",
        ),
        (json!([1, 2, 3]), "body"),
    ];
    for (body, field) in cases {
        let e = error_of(app.decide(&body, Some("US")).await, 400).await;
        assert_eq!(e["code"], "invalid_field", "{body}");
        assert_eq!(e["field"], field, "{body}");
    }
}

#[tokio::test]
async fn missing_page_url_is_400_naming_it() {
    let app = spawn_app().await;
    let e = error_of(
        app.decide(&json!({"page": {"referrer": "https://www.google.com/"}}), None)
            .await,
        400,
    )
    .await;
    assert_eq!(e["field"], "page.url");
    let e = error_of(app.decide(&json!({}), None).await, 400).await;
    assert_eq!(e["field"], "page");
}

#[tokio::test]
async fn non_http_urls_are_400() {
    let app = spawn_app().await;
    for url in [
        "ftp://bank.example/file",
        "javascript:alert(1)",
        "/mortgages",
        "not a url",
        "file:///etc/passwd",
    ] {
        let e = error_of(app.decide(&page(url), None).await, 400).await;
        assert_eq!(e["field"], "page.url", "{url}");
        assert!(!e["message"].as_str().unwrap().contains("alert"), "{e}");
    }
}

#[tokio::test]
async fn impossible_values_are_400() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"page": {"url": "https://bank.example/"}, "tz_offset_minutes": 2000}),
            "tz_offset_minutes",
        ),
        (
            json!({"page": {"url": "https://bank.example/"}, "visitor_id": ""}),
            "visitor_id",
        ),
        (
            json!({"page": {"url": "https://bank.example/"}, "visitor_id": "x".repeat(1024)}),
            "visitor_id",
        ),
        (
            json!({"page": {"url": "https://bank.example/"}, "visitor_id": "has space"}),
            "visitor_id",
        ),
        (
            json!({"page": {"url": "https://bank.example/", "category": "c".repeat(500)}}),
            "page.category",
        ),
    ];
    for (body, field) in cases {
        let e = error_of(app.decide(&body, Some("US")).await, 400).await;
        assert_eq!(e["field"], field, "{body}");
    }
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app().await;
    let big = json!({"page": {"url": "https://bank.example/"}, "padding": "x".repeat(17 * 1024)});
    let e = error_of(app.decide(&big, None).await, 413).await;
    assert_eq!(e["code"], "payload_too_large");
    // Without Content-Length (chunked), the limit still holds.
    let chunks: Vec<Result<String, std::io::Error>> = (0..40).map(|_| Ok("x".repeat(1024))).collect();
    let stream = reqwest::Body::wrap_stream(futures_stream(chunks));
    let e = error_of(post_raw(&app, stream, "application/json").await, 413).await;
    assert_eq!(e["code"], "payload_too_large");
    // The limit comes from configuration.
    let small = spawn_app_with(|s| s.server.max_body_bytes = 512).await;
    let body = json!({"page": {"url": "https://bank.example/"}, "padding": "x".repeat(600)});
    error_of(small.decide(&body, None).await, 413).await;
}

fn futures_stream(
    chunks: Vec<Result<String, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<String, std::io::Error>> {
    struct Iter(std::vec::IntoIter<Result<String, std::io::Error>>);
    impl futures_core::Stream for Iter {
        type Item = Result<String, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(chunks.into_iter())
}

#[tokio::test]
async fn wrong_content_type_method_and_route() {
    let app = spawn_app().await;
    let e = error_of(post_raw(&app, "<xml/>", "application/xml").await, 415).await;
    assert_eq!(e["code"], "unsupported_media_type");
    let message = e["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("application/json") && message.contains("text/plain"),
        "{message}"
    );
    // text/plain is what browser SDKs send to skip the CORS preflight.
    let res = post_raw(
        &app,
        r#"{"page":{"url":"https://bank.example/"}}"#,
        "text/plain;charset=UTF-8",
    )
    .await;
    assert_eq!(res.status(), 200);
    let e = error_of(app.client.get(app.url("/v1/decide")).send().await.unwrap(), 405).await;
    assert_eq!(e["code"], "method_not_allowed");
    let res = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.headers()["allow"], "GET");
    let e = error_of(
        app.client
            .get(app.url("/v1/nothing-here?email=a@b.c"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(e["code"], "not_found");
}

#[tokio::test]
async fn type_errors_say_what_a_person_would_send() {
    let app = spawn_app().await;
    let body = json!({"page": {"url": "https://bank.example/"}, "tz_offset_minutes": "+01:00"});
    let e = error_of(app.decide(&body, Some("US")).await, 400).await;
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("an integer between -720 and 840"), "{message}");
    assert!(!message.contains("i64") && !message.contains("+01:00"), "{message}");
    let body = json!({"page": {"url": "https://bank.example/"}, "slots": "hero"});
    let e = error_of(app.decide(&body, Some("US")).await, 400).await;
    assert!(e["message"].as_str().unwrap().ends_with("expected a list"), "{e}");
}

#[tokio::test]
async fn unknown_keys_name_the_real_field_or_are_counted_never_echoed() {
    let app = spawn_app().await;
    let body = json!({
        "page": {"url": "https://bank.example/", "referer": "https://www.google.com/"},
        "visitorId": "7f3c9a1e2b4d4c8e9a0b1c2d3e4f5a6b",
        "tzOffsetMinutes": 60,
        "visitor_di": "x",
        "jane@example.com": 1,
        "zzzzzzzz": 2,
    });
    let res = app.decide(&body, Some("US")).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains("jane") && !text.contains("zzzzzzzz") && !text.contains("visitorId"),
        "{text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    let unknown: Vec<(String, String)> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "unknown_field")
        .map(|w| {
            (
                w["field"].as_str().unwrap().to_string(),
                w["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let fields: Vec<&str> = unknown.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        ["page.referrer", "tz_offset_minutes", "visitor_id", "body"],
        "{unknown:?}"
    );
    assert!(unknown[0].1.contains("did you mean `page.referrer`?"), "{unknown:?}");
    assert!(unknown[3].1.starts_with("2 fields"), "{unknown:?}");

    // A body whose every key is known gets no such warning.
    let res = app.decide(&page("https://bank.example/"), Some("US")).await;
    let v: Value = res.json().await.unwrap();
    assert!(!v["warnings"].to_string().contains("unknown_field"), "{v}");
}

#[tokio::test]
async fn a_body_with_unknown_keys_still_names_a_wrong_field_and_refuses_a_key_twice() {
    let app = spawn_app().await;
    // An unknown key sends the body down the slow parse: a type error there still names its field.
    let res = post_raw(
        &app,
        r#"{"page":{"url":"https://bank.example/"},"referer":"x","tz_offset_minutes":"sixty"}"#,
        "application/json",
    )
    .await;
    let e = error_of(res, 400).await;
    assert_eq!(e["field"], "tz_offset_minutes", "{e}");
    assert!(!e.to_string().contains("sixty"), "{e}");
    // A key twice is refused whichever parse sees it: which one a reader takes differs between parsers.
    for body in [
        r#"{"page":{"url":"https://a.example/"},"page":{"url":"https://b.example/"}}"#,
        r#"{"page":{"url":"https://a.example/"},"x":1,"visitor_id":"v","visitor_id":"w"}"#,
        r#"{"x":1,"page":{"url":"https://a.example/","url":"https://b.example/"}}"#,
    ] {
        let e = error_of(post_raw(&app, body, "application/json").await, 400).await;
        assert_eq!(e["field"], "body", "{body}: {e}");
    }
    // Malformed JSON with an unknown key before the break is still malformed.
    let e = error_of(
        post_raw(&app, r#"{"x":1,"page":{"url":"#, "application/json").await,
        400,
    )
    .await;
    assert_eq!(e["code"], "malformed_json", "{e}");
}
