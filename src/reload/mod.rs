//! Live rule reload: the rules directory is recompiled on a file change ([`watch`]), on `SIGHUP` and
//! on `POST /v1/admin/rules/reload`, one reload at a time. A set that does not load is rejected
//! whole and the active one keeps serving; a set that loads is swapped in with one pointer store, so
//! a request that already took the old set finishes on it. Everything derived from the rules (the
//! pre-rendered answers, the segment index, what RTB and the record of processing read) lives inside
//! the [`RuleSet`] and is swapped with it.

pub mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::metrics::{Metrics, ResultLabel};
use crate::rules::load::{load_sources_with, read_sources, ErrorKind};
use crate::rules::{LoadErrors, LoadOptions, RuleError, RuleSet};

/// What asked for a reload (a closed set: it is logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A change in `rules.dir`.
    Watch,
    /// `SIGHUP`.
    Signal,
    /// `POST /v1/admin/rules/reload`.
    Api,
}

impl Trigger {
    /// The name logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Watch => "watch",
            Trigger::Signal => "sighup",
            Trigger::Api => "api",
        }
    }
}

/// The active set and where it came from, swapped together so a reader never sees one without
/// the other.
#[derive(Debug)]
pub struct RulesStatus {
    /// The active set (the same `Arc` the request path reads).
    pub rules: Arc<RuleSet>,
    /// When this node loaded it.
    pub loaded_at: SystemTime,
}

/// What a successful reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The version now active.
    pub version: String,
    /// Whether the version changed (an unchanged directory swaps nothing).
    pub changed: bool,
    /// Warnings of the new set (conditions that can never match), as `file:line:col: message`.
    pub warnings: Vec<RuleError>,
}

/// Owns the active rule set and replaces it.
pub struct Reloader {
    dir: PathBuf,
    options: LoadOptions,
    active: Arc<ArcSwap<RuleSet>>,
    status: ArcSwap<RulesStatus>,
    metrics: Arc<Metrics>,
    /// One reload at a time: the watcher, SIGHUP and the route may ask at once.
    one: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// A reloader for `dir`, starting with `initial`.
    pub fn new(dir: PathBuf, options: LoadOptions, initial: RuleSet, metrics: Arc<Metrics>) -> Reloader {
        let rules = Arc::new(initial);
        metrics.set_rules_version(&rules.version);
        Reloader {
            dir,
            options,
            active: Arc::new(ArcSwap::new(Arc::clone(&rules))),
            status: ArcSwap::from_pointee(RulesStatus {
                rules,
                loaded_at: SystemTime::now(),
            }),
            metrics,
            one: tokio::sync::Mutex::new(()),
        }
    }

    /// The active set, as the request path reads it (lock-free).
    pub fn active(&self) -> Arc<ArcSwap<RuleSet>> {
        Arc::clone(&self.active)
    }

    /// The active set with when it was loaded.
    pub fn status(&self) -> Arc<RulesStatus> {
        self.status.load_full()
    }

    /// The directory watched and reloaded.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Recompiles the directory and swaps the result in; an invalid set changes nothing and comes
    /// back as its diagnostics.
    pub async fn reload(&self, trigger: Trigger) -> Result<Reloaded, LoadErrors> {
        let _one = self.one.lock().await;
        let (dir, options) = (self.dir.clone(), self.options.clone());
        let loaded = tokio::task::spawn_blocking(move || load_sources_with(&read_sources(&dir)?, &options))
            .await
            .unwrap_or_else(|e| {
                Err(LoadErrors(vec![RuleError::unplaced(
                    ErrorKind::Io,
                    self.dir.display().to_string(),
                    format!("the reload stopped: {e}"),
                )]))
            });
        let result = |r| ResultLabel { result: r };
        match loaded {
            Ok(loaded) => {
                self.metrics.reloads.get_or_create(&result("ok")).inc();
                let old = self.active.load().version.clone();
                let changed = loaded.rules.version != old;
                if changed {
                    self.install(loaded.rules);
                    tracing::info!(trigger = trigger.as_str(), from = %old, to = %self.active.load().version, "rules reloaded");
                } else {
                    tracing::info!(trigger = trigger.as_str(), version = %old, "rules reloaded; version unchanged");
                }
                for w in &loaded.warnings {
                    tracing::warn!("{w}");
                }
                Ok(Reloaded {
                    version: self.active.load().version.clone(),
                    changed,
                    warnings: loaded.warnings,
                })
            }
            Err(errors) => {
                self.metrics.reloads.get_or_create(&result("failed")).inc();
                tracing::warn!(
                    trigger = trigger.as_str(),
                    errors = errors.errors().count(),
                    version = %self.active.load().version,
                    "rules reload rejected; the active set keeps serving:\n{errors}"
                );
                Err(errors)
            }
        }
    }

    /// Swaps a compiled set in: the request path first, then the status that describes it.
    fn install(&self, rules: RuleSet) {
        let rules = Arc::new(rules);
        self.active.store(Arc::clone(&rules));
        self.metrics.set_rules_version(&rules.version);
        self.status.store(Arc::new(RulesStatus {
            rules,
            loaded_at: SystemTime::now(),
        }));
    }
}
