//! Stopping under load. actix's own signal handling closes the listener at once, so a load balancer
//! never sees the node go unready and keeps sending it requests that fail. personify handles the
//! signals itself: SIGTERM first sets `draining` (`/readyz` answers 503) and keeps serving for
//! `server.drain_seconds`, then stops the servers gracefully (in-flight requests get
//! `server.shutdown_seconds`); SIGINT, an interactive Ctrl-C, skips the drain. The final flush of
//! counts follows in [`crate::app::startup::Application::run_until_stopped`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;

/// Waits for SIGTERM or SIGINT, drains on SIGTERM, then stops every server gracefully.
pub async fn stop_on_signal(servers: Vec<ServerHandle>, draining: Arc<AtomicBool>, drain: Duration) {
    if wait_for_signal().await {
        draining.store(true, Ordering::Relaxed);
        tracing::info!(
            seconds = drain.as_secs(),
            "SIGTERM: draining (readyz answers 503, requests are still served)"
        );
        tokio::time::sleep(drain).await;
    } else {
        tracing::info!("SIGINT: stopping without a drain");
    }
    tracing::info!("closing the listeners; in-flight requests may finish");
    for s in &servers {
        s.stop(true).await;
    }
}

/// Resolves on SIGTERM (`true`) or SIGINT (`false`).
#[cfg(unix)]
async fn wait_for_signal() -> bool {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
            return wait_for_ctrl_c().await;
        }
    };
    // A stream that ends (its runtime's signal driver is gone, as when several runtimes share a
    // process in the tests) is no signal: only a signal that arrived stops the server.
    tokio::select! {
        Some(()) = term.recv() => true,
        Ok(()) = tokio::signal::ctrl_c() => false,
        else => std::future::pending().await,
    }
}

/// Resolves on SIGINT (`false`); never when SIGINT cannot be listened for.
async fn wait_for_ctrl_c() -> bool {
    match tokio::signal::ctrl_c().await {
        Ok(()) => false,
        Err(_) => std::future::pending().await,
    }
}

/// Outside Unix only Ctrl-C stops the server.
#[cfg(not(unix))]
async fn wait_for_signal() -> bool {
    wait_for_ctrl_c().await
}
