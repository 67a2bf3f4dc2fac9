//! Live rule reload: the rules directory is recompiled on a file change ([`watch`]), on `SIGHUP` and
//! on `POST /v1/admin/rules/reload`, one reload at a time. A set that does not load is rejected
//! whole and the active one keeps serving; a set that loads is swapped in with one pointer store, so
//! a request that already took the old set finishes on it. Everything derived from the rules (the
//! pre-rendered answers, the segment index, what RTB and the record of processing read) lives inside
//! the [`RuleSet`] and is swapped with it.

pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::domain::rules::load::{load_sources_with, read_sources, ErrorKind};
use crate::domain::rules::{LoadErrors, LoadOptions, RuleError, RuleSet};
use crate::engine::audit::Action;
use crate::metrics::{Metrics, ResultLabel};
use crate::store::{RuleSets, Store, StoredRuleSet};

/// What asked for a reload (a closed set: it is logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Trigger {
    /// A change in `rules.dir`.
    Watch,
    /// `SIGHUP`.
    #[strum(serialize = "sighup")]
    Signal,
    /// `POST /v1/admin/rules/reload`.
    Api,
}

impl Trigger {
    /// The name logged.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Who the audit trail names for a reload nobody's token asked for.
    pub fn actor(self) -> &'static str {
        match self {
            Trigger::Watch => "watcher",
            Trigger::Signal => "signal",
            // The route passes its token's name instead; this is never recorded from there.
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
    /// Set while the rules directory does not load and the node serves the stored last good set.
    pub last_good: Option<LastGood>,
}

/// Why and since when a node serves the stored last good set instead of its rules directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastGood {
    /// When the set was stored (Unix milliseconds).
    pub saved_at: i64,
    /// How many errors the rules directory had when it was last read.
    pub dir_errors: usize,
}

/// The set a node starts with.
#[derive(Debug)]
pub struct Initial {
    /// The compiled set.
    pub rules: RuleSet,
    /// `Some` when it is the stored last good set because the directory did not load.
    pub last_good: Option<LastGood>,
    /// The directory's files, when they loaded (to be stored as the new last good set).
    sources: Option<Vec<(String, String)>>,
}

/// The rules a node starts with: `dir` when it loads; otherwise the last good set from the store,
/// when there is one and it still loads under today's options (a typo is not an outage); otherwise
/// the directory's errors, and the node does not start.
pub async fn load_initial(
    dir: &Path,
    options: &LoadOptions,
    store: &(impl RuleSets + ?Sized),
) -> Result<Initial, LoadErrors> {
    let read = read_sources(dir).and_then(|sources| load_sources_with(&sources, options).map(|l| (l, sources)));
    let errors = match read {
        Ok((loaded, sources)) => {
            return Ok(Initial {
                rules: loaded.rules,
                last_good: None,
                sources: Some(sources),
            })
        }
        Err(errors) => errors,
    };
    let stored = match store.last_good_rules().await {
        Ok(Some(stored)) => stored,
        Ok(None) => return Err(errors),
        Err(e) => {
            tracing::error!(error = %e, "the last good rule set could not be read");
            return Err(errors);
        }
    };
    match load_sources_with(&stored.files, options) {
        Ok(loaded) => {
            tracing::error!(
                dir = %dir.display(),
                errors = errors.errors().count(),
                version = %loaded.rules.version,
                "the rules directory does not load; serving the last good set until it is fixed:\n{errors}"
            );
            Ok(Initial {
                rules: loaded.rules,
                last_good: Some(LastGood {
                    saved_at: stored.saved_at,
                    dir_errors: errors.errors().count(),
                }),
                sources: None,
            })
        }
        Err(stale) => {
            tracing::error!("the last good rule set no longer loads either:\n{stale}");
            Err(errors)
        }
    }
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
    /// Where the last good set is kept.
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    /// One reload at a time: the watcher, SIGHUP and the route may ask at once.
    one: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// A reloader for `dir`, starting with `initial`; a set read from the directory is stored as
    /// the last good one.
    pub async fn start(
        dir: PathBuf,
        options: LoadOptions,
        initial: Initial,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
    ) -> Reloader {
        let rules = Arc::new(initial.rules);
        metrics.set_rules_version(&rules.version);
        metrics.rules_last_good.set(i64::from(initial.last_good.is_some()));
        let reloader = Reloader {
            dir,
            options,
            active: Arc::new(ArcSwap::new(Arc::clone(&rules))),
            status: ArcSwap::from_pointee(RulesStatus {
                rules: Arc::clone(&rules),
                loaded_at: SystemTime::now(),
                last_good: initial.last_good,
            }),
            store,
            metrics,
            one: tokio::sync::Mutex::new(()),
        };
        if let Some(sources) = initial.sources {
            reloader.remember(&rules.version, sources).await;
        }
        reloader
    }

    /// Stores a set that loaded as the last good one. A failure is logged and counted, never fatal:
    /// the set is serving either way.
    async fn remember(&self, version: &str, files: Vec<(String, String)>) {
        let set = StoredRuleSet {
            version: version.to_string(),
            files,
            saved_at: SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        };
        if let Err(e) = self.store.put_last_good_rules(&set).await {
            self.metrics.store_error("rules");
            tracing::warn!(error = %e, "the last good rule set could not be stored; the previous one stays");
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
    /// back as its diagnostics. Either outcome is added to the audit trail under `actor` (a token's
    /// configured name, or [`Trigger::actor`]); a watcher reload only when it changed the version
    /// or failed.
    pub async fn reload(&self, trigger: Trigger, actor: &str) -> Result<Reloaded, LoadErrors> {
        let _one = self.one.lock().await;
        let outcome = self.reload_locked(trigger).await;
        let action = match &outcome {
            // A save that writes the same text (an editor's `:w`, a deploy copying unchanged files)
            // wakes the watcher and changes nothing; the trail would fill with such reloads.
            Ok(r) if trigger == Trigger::Watch && !r.changed => return outcome,
            Ok(_) => Action::RulesReloaded,
            Err(_) => Action::RulesReloadFailed,
        };
        // Recorded after the fact, since the outcome is part of the entry. A trail that cannot take
        // it does not undo the reload (a fix must go live during a store outage too): it is logged
        // and counted as a store error instead.
        if let Err(e) = crate::engine::audit::record(self.store.as_ref(), actor, action).await {
            self.metrics.store_error("audit");
            tracing::error!(error = %e, trigger = trigger.as_str(), "the reload could not be added to the audit trail");
        }
        outcome
    }

    async fn reload_locked(&self, trigger: Trigger) -> Result<Reloaded, LoadErrors> {
        let (dir, options) = (self.dir.clone(), self.options.clone());
        let loaded = tokio::task::spawn_blocking(move || {
            let sources = read_sources(&dir)?;
            load_sources_with(&sources, &options).map(|l| (l, sources))
        })
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
            Ok((loaded, sources)) => {
                self.metrics.reloads.get_or_create(&result("ok")).inc();
                let old = self.active.load().version.clone();
                let changed = loaded.rules.version != old;
                if changed || self.status.load().last_good.is_some() {
                    self.remember(&loaded.rules.version, sources).await;
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
                if let Some(lg) = &self.status.load().last_good {
                    // Still on the last good set: keep the error count current for /readyz.
                    let status = self.status.load_full();
                    self.status.store(Arc::new(RulesStatus {
                        rules: Arc::clone(&status.rules),
                        loaded_at: status.loaded_at,
                        last_good: Some(LastGood {
                            saved_at: lg.saved_at,
                            dir_errors: errors.errors().count(),
                        }),
                    }));
                }
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
        let old = self.active.swap(Arc::clone(&rules));
        self.metrics.set_rules_version(&rules.version);
        let old_status = self.status.swap(Arc::new(RulesStatus {
            rules,
            loaded_at: SystemTime::now(),
            last_good: None,
        }));
        self.metrics.rules_last_good.set(0);
        // Freeing a large set is millions of deallocations: not on the thread that called (an
        // actix worker, for the route). A request still holding the old set frees it when it
        // ends, as before.
        tokio::task::spawn_blocking(move || drop((old, old_status)));
    }
}
