//! `personify health`: asks a running node's `/readyz` (or `/healthz`) and exits 0 on 200, for
//! container and compose health checks in an image that has no curl.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::config::Settings;

/// `health` arguments.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Ask `/healthz` (the process answers) instead of `/readyz` (rules loaded, store answering,
    /// not draining).
    #[arg(long)]
    pub live: bool,
    /// The node's base URL (http://…); default: server.host and server.port of the configuration,
    /// with a wildcard host asked on loopback.
    #[arg(long)]
    pub url: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
}

/// The base URL of the node this configuration starts.
fn local_base(settings: &Settings) -> String {
    let host = match settings.server.host.as_str() {
        "0.0.0.0" | "" => "127.0.0.1".to_string(),
        "::" | "[::]" => "[::1]".to_string(),
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        h => h.to_string(),
    };
    format!("http://{host}:{}", settings.server.port)
}

/// Runs `health`: 0 when the route answers 200, 1 otherwise (unreachable, timed out, 503).
pub fn health(settings: &Settings, args: &HealthArgs) -> ExitCode {
    let base = args.url.clone().unwrap_or_else(|| local_base(settings));
    let url = format!(
        "{}/{}",
        base.trim_end_matches('/'),
        if args.live { "healthz" } else { "readyz" }
    );
    let ask = async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(args.timeout.max(1)))
            .build()
            .map_err(|e| e.to_string())?;
        let resp = client.get(&url).send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        Ok::<_, String>((status, body))
    };
    let answer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(ask));
    match answer {
        Ok((status, body)) if status.is_success() => {
            println!("ok: {url}: {} {}", status.as_u16(), body.trim());
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            eprintln!("FAILED: {url}: {} {}", status.as_u16(), body.trim());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("FAILED: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}
