//! Reload triggers outside HTTP: changes in `rules.dir` and `SIGHUP`.
//!
//! The watcher is `notify` itself, with the debounce done here: an editor's save is a burst of
//! events (a temporary file, a rename, a write), and the burst becomes one reload after a quiet
//! period. Only events that can change a file's content count. inotify also reports opens, reads
//! and attribute changes, and the reload itself opens every rules file: counting those made each
//! reload trigger the next, about five a second for as long as the node ran. That is why
//! `notify-debouncer-mini` is not used here: its events no longer say what kind they were.

use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};

use super::{Reloader, Trigger};

/// Quiet time after the last event of a burst before the reload.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Whether an event can have changed what a file holds: writes, renames, creation and removal do;
/// opening, reading and attribute changes (access times, a `chmod`) do not.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Other => true,
    }
}

/// Watches the rules directory and reloads on a change to a `*.toml` file. A directory that cannot
/// be watched is logged and left to SIGHUP and the route.
pub fn spawn_watcher(reloader: Arc<Reloader>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let rule_file = |p: &std::path::PathBuf| p.extension().is_some_and(|x| x == "toml");
        match event {
            Ok(e) if changes_content(&e.kind) && e.paths.iter().any(rule_file) => {
                let _ = tx.send(());
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "rules directory watch error"),
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the rules directory; reload with SIGHUP or the API");
            return;
        }
    };
    if let Err(e) = watcher.watch(reloader.dir(), RecursiveMode::NonRecursive) {
        tracing::warn!(error = %e, "cannot watch the rules directory; reload with SIGHUP or the API");
        return;
    }
    // The watcher lives as long as the process and is never dropped: dropping one while other
    // servers in the same process kept serving reset their connections (several test servers
    // share a process; seen in tests/it/browser_routes.rs). A node has one watcher for its lifetime.
    std::mem::forget(watcher);
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // The burst ends after a quiet period; events during the reload are covered by it.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            let _ = reloader.reload(Trigger::Watch, Trigger::Watch.actor()).await;
            while rx.try_recv().is_ok() {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind, RenameMode};

    #[test]
    fn reading_a_file_is_not_a_change_and_writing_one_is() {
        for quiet in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Read),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
        ] {
            assert!(!changes_content(&quiet), "{quiet:?}");
        }
        for change in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Create(CreateKind::File),
            EventKind::Remove(RemoveKind::File),
        ] {
            assert!(changes_content(&change), "{change:?}");
        }
    }
}
