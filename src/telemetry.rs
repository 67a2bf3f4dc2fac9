//! Logging setup. Log lines carry routes, statuses and timings; never personal data.

use tracing_subscriber::EnvFilter;

/// Installs a stdout subscriber filtered by `RUST_LOG` (default `info`). Safe to call twice.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
