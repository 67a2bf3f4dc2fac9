//! The server log never records an IP, User-Agent, query string, visitor id or body (docs/architecture.md, invariant 1).

use std::time::Duration;

use serde_json::json;

use crate::helpers::process::Server;

#[tokio::test]
async fn the_log_holds_no_ip_user_agent_query_string_or_visitor_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[("PERSONIFY__SERVER__CLIENT_IP_HEADER", "X-Forwarded-For")],
    );
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", server.port);
    let ua = "Mozilla/5.0 (X11; Linux x86_64) TestAgent-7f3a9c/1.0";
    let ip = "198.51.100.23";
    let visitor = "visitor-secret-8842-q7Vh2Lx";
    let bodies = [
        json!({"page": {"url": "https://bank.example/mortgages?utm_source=news&utm_campaign=leakycampaign&email=leak@example.com", "referrer": "https://www.google.com/search?q=remortgage+jane+doe"}, "visitor_id": visitor}),
        json!({"page": {"url": "https://bank.example/u/jane.doe%40example.com"}, "visitor_id": visitor}),
        json!({"page": {"url": 17}, "visitor_id": visitor}),
        json!({"page": {"url": "ftp://bank.example/secret-path-xyz"}}),
    ];
    for body in &bodies {
        let res = client
            .post(format!("{base}/v1/decide?tracking=querysecret123"))
            .header("User-Agent", ua)
            .header("X-Forwarded-For", ip)
            .header("CF-IPCountry", "US")
            .json(body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success() || res.status().is_client_error());
    }
    client
        .get(format!("{base}/no/such/path/jane@example.com"))
        .header("User-Agent", ua)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // actix-server's startup line names the server's own listening socket, not a client's.
    let log: Vec<String> = server
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| !l.contains("starting service:"))
        .cloned()
        .collect();
    let log = log.join("\n");
    assert!(log.contains("route=/v1/decide"), "requests were not logged:\n{log}");
    assert!(log.contains("status=400"), "errors were not logged:\n{log}");
    for secret in [
        ip,
        "127.0.0.1",
        "TestAgent-7f3a9c",
        visitor,
        "querysecret123",
        "tracking=",
        "leakycampaign",
        "leak@example.com",
        "jane",
        "remortgage",
        "secret-path-xyz",
        "/no/such/path",
    ] {
        assert!(!log.contains(secret), "log contains {secret:?}:\n{log}");
    }
}
