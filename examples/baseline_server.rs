//! The same-bytes baseline for `scripts/load`: an actix-web server with personify's worker count
//! that reads each request body whole and answers `/healthz`, `/v1/decide` and `/v1/rtb/segments`
//! with bytes of the size personify sends (a real answer of each, recorded in
//! `examples/baseline/`), doing no other work. What personify's hot path costs beyond HTTP itself is
//! its CPU per request over this one's (`docs/operations/performance.md`).
//!
//!   cargo build --release --example baseline_server
//!   BASELINE_BIN=target/release/examples/baseline_server scripts/load
//!
//! It reads `PERSONIFY__SERVER__PORT` (default 8080) and `PERSONIFY__SERVER__WORKERS` (default 2) as
//! scripts/load sets them, binds 127.0.0.1 only, and ignores every other setting.

use actix_web::{web, App, HttpResponse, HttpServer};

/// A decide answer for a mortgage page (805 bytes).
const DECIDE: &str = include_str!("baseline/decide.json");
/// An RTB answer for one bid request.
const RTB: &str = include_str!("baseline/rtb.json");
/// `/healthz`'s answer.
const HEALTHZ: &str = r#"{"status":"ok"}"#;
/// personify's default `server.max_body_bytes`.
const MAX_BODY: usize = 65_536;

fn json(body: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(body)
}

/// Reads the body (as personify must) and answers `answer`.
async fn answer(body: web::Bytes, answer: &'static str) -> HttpResponse {
    std::hint::black_box(body);
    json(answer)
}

fn setting(name: &str, default: u16) -> u16 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port = setting("PERSONIFY__SERVER__PORT", 8080);
    let workers = usize::from(setting("PERSONIFY__SERVER__WORKERS", 2).max(1));
    HttpServer::new(|| {
        App::new()
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .route("/healthz", web::get().to(|| async { json(HEALTHZ) }))
            .route("/v1/decide", web::post().to(|b: web::Bytes| answer(b, DECIDE)))
            .route("/v1/rtb/segments", web::post().to(|b: web::Bytes| answer(b, RTB)))
    })
    .workers(workers)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
