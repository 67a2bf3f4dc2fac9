//! `personify health`: the container health check of an image without curl, against the real binary.

use std::process::{Command, Output};

use crate::helpers::manifest_dir;
use crate::helpers::process::Server;

/// Runs `personify health ARGS` with the configuration a node on `port` would have.
fn health(port: u16, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_personify"))
        .args(["--config", manifest_dir().join("config").to_str().unwrap(), "health"])
        .args(args)
        .env("PERSONIFY__SERVER__PORT", port.to_string())
        .output()
        .expect("personify runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn health_asks_the_configured_port_and_follows_readiness_through_a_drain() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[("PERSONIFY__SERVER__DRAIN_SECONDS", "30")]);

    let ready = health(server.port, &[]);
    assert!(ready.status.success(), "{}", text(&ready));
    assert!(text(&ready).contains("/readyz: 200"), "{}", text(&ready));
    let live = health(server.port, &["--live"]);
    assert!(
        live.status.success() && text(&live).contains("/healthz: 200"),
        "{}",
        text(&live)
    );

    // SIGTERM: the node drains, so it is no longer ready but still alive.
    let term = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let draining = loop {
        let out = health(server.port, &[]);
        if !out.status.success() || std::time::Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(!draining.status.success(), "a draining node is not ready");
    assert!(text(&draining).contains("503"), "{}", text(&draining));
    let live = health(server.port, &["--live"]);
    assert!(live.status.success(), "a draining node is alive: {}", text(&live));
}

#[test]
fn health_fails_when_nothing_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = health(port, &["--timeout", "1"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("FAILED"), "{}", text(&out));
    let out = health(0, &["--url", &format!("http://127.0.0.1:{port}"), "--live"]);
    assert!(
        !out.status.success() && text(&out).contains("/healthz"),
        "{}",
        text(&out)
    );
}
