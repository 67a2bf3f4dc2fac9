//! The server log never records an IP, User-Agent, query string, visitor id or body (DESIGN §2.1).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// The real binary with stdout and stderr captured line by line.
struct Server {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    port: u16,
}

impl Server {
    fn start(data_dir: &std::path::Path, envs: &[(&str, &str)]) -> Server {
        let store = format!("sqlite://{}/personify.db", data_dir.display());
        let mut child = Command::new(env!("CARGO_BIN_EXE_personify"))
            .args(["--config", manifest_dir().join("config").to_str().unwrap(), "serve"])
            .env("PERSONIFY__SERVER__PORT", "0")
            .env("PERSONIFY__SERVER__WORKERS", "1")
            .env("PERSONIFY__RULES__DIR", example_rules())
            .env("RUST_LOG", "debug")
            .env("PERSONIFY__STORE__URL", store)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            let found = log.lock().unwrap().iter().find_map(|l| {
                l.contains("personify listening")
                    .then(|| l.split("port=").nth(1)?.split_whitespace().next()?.parse().ok())
                    .flatten()
            });
            if let Some(p) = found {
                break p;
            }
            assert!(
                Instant::now() < deadline,
                "server did not start: {:?}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Server { child, log, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    let visitor = "visitor-secret-8842";
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
