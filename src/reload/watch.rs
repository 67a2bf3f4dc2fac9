//! Reload triggers outside HTTP: changes in `rules.dir` and `SIGHUP`.
//!
//! The watcher is `notify` behind `notify-debouncer-mini`: an editor's save is a burst of events
//! (a temporary file, a rename, a metadata change), and the debouncer turns each burst into one
//! reload after a quiet period. The directory is reloaded whole, so which file changed does not
//! matter and the richer `-full` debouncer (rename tracking, file ids) would buy nothing.

use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::{new_debouncer, notify::RecursiveMode, DebounceEventResult};

use super::{Reloader, Trigger};

/// Quiet time after the last event of a burst before the reload.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Watches the rules directory and reloads on a change to a `*.toml` file. A directory that cannot
/// be watched is logged and left to SIGHUP and the route.
pub fn spawn_watcher(reloader: Arc<Reloader>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let debouncer = new_debouncer(DEBOUNCE, move |events: DebounceEventResult| {
        let rule_file = |p: &std::path::Path| p.extension().is_some_and(|x| x == "toml");
        match events {
            Ok(events) if events.iter().any(|e| rule_file(&e.path)) => {
                let _ = tx.send(());
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "rules directory watch error"),
        }
    });
    let mut debouncer = match debouncer {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the rules directory; reload with SIGHUP or the API");
            return;
        }
    };
    if let Err(e) = debouncer.watcher().watch(reloader.dir(), RecursiveMode::NonRecursive) {
        tracing::warn!(error = %e, "cannot watch the rules directory; reload with SIGHUP or the API");
        return;
    }
    // The watcher lives as long as the process and is never dropped: dropping one while other
    // servers in the same process kept serving reset their connections (several test servers
    // share a process; seen in tests/browser_routes.rs). A node has one watcher for its lifetime.
    std::mem::forget(debouncer);
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Events that arrived during the reload are covered by it.
            while rx.try_recv().is_ok() {}
            let _ = reloader.reload(Trigger::Watch, Trigger::Watch.actor()).await;
        }
    });
}

/// Reloads on every `SIGHUP`.
#[cfg(unix)]
pub fn spawn_sighup(reloader: Arc<Reloader>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reload with the API");
            return;
        }
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let _ = reloader.reload(Trigger::Signal, Trigger::Signal.actor()).await;
        }
    });
}

/// No `SIGHUP` outside Unix.
#[cfg(not(unix))]
pub fn spawn_sighup(_reloader: Arc<Reloader>) {}
