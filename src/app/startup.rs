//! Building and running the server: shared by the binary and the integration tests.

use std::net::TcpListener;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::dev::Server;
use actix_web::{App, HttpServer};
use arc_swap::ArcSwap;

use crate::app::shutdown;
use crate::config::Settings;
use crate::domain::consent::ConsentBook;
use crate::domain::privacy::{Keyring, Secret};
use crate::domain::rules::{self, LoadErrors};
use crate::engine::audit::AuditTrail;
use crate::engine::consent::position::LogPosition;
use crate::engine::counter::Counts;
use crate::engine::health::StoreHealth;
use crate::engine::ledger::node::{Ledger, StartError as LedgerStartError};
use crate::engine::reload::{self, watch, Reloader};
use crate::engine::reports::{ReleasePolicy, Reports};
use crate::engine::secrets;
use crate::http::{self, AppState, Parts};
use crate::metrics::Metrics;
use crate::store::{self, StoreError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The rules directory has errors; each is `file:line:col: message`, as `personify check` prints.
    #[error("segment rules are invalid:\n{0}")]
    Rules(#[from] LoadErrors),
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// host:port attempted.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The consent log's key or store.
    #[error(transparent)]
    Ledger(#[from] LedgerStartError),
    /// The configured country database.
    #[error(transparent)]
    Geo(#[from] crate::engine::geo::GeoError),
}

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    /// The port of the `server.metrics_addr` listener, if configured.
    metrics_port: Option<u16>,
    server: Server,
    /// The `server.metrics_addr` listener's server.
    metrics_server: Option<Server>,
    rules: Arc<ArcSwap<rules::RuleSet>>,
    counts: Arc<Counts>,
    metrics: Arc<Metrics>,
    /// Set on SIGTERM; `/readyz` reads it.
    draining: Arc<AtomicBool>,
    /// `server.drain_seconds`.
    drain: Duration,
}

/// Binds `addr` (port 0 picks a free port).
fn bind(addr: &str) -> Result<(TcpListener, u16), StartupError> {
    let err = |source| StartupError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).map_err(err)?;
    let port = listener.local_addr().map_err(err)?.port();
    Ok((listener, port))
}

/// The `server.metrics_addr` listener: one worker, `GET /metrics` only, no token (it is meant for an
/// internal address; docs/architecture.md, "Routes and scopes").
fn metrics_server(addr: &str, state: Arc<AppState>) -> Result<(Server, u16), StartupError> {
    let (listener, port) = bind(addr)?;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(http::edge::logging::RequestLog)
            .configure(|cfg| http::configure_metrics_only(cfg, &state))
    })
    .workers(1)
    .shutdown_timeout(1)
    // Stopped with the main server by `shutdown::stop_on_signal`.
    .disable_signals()
    .listen(listener)
    .map_err(|source| StartupError::Bind {
        addr: addr.to_string(),
        source,
    })?
    .run();
    Ok((server, port))
}

impl Application {
    /// Opens the store, loads secrets, salts, consent records and rules, binds the listener (port 0
    /// picks a free port) and prepares the server.
    pub async fn build(settings: &Settings) -> Result<Application, StartupError> {
        let store = store::open_with(settings.store.url.as_str(), settings.store.ca_file.as_deref()).await?;
        let options = settings.rule_options();
        let initial = reload::load_initial(&settings.rules.dir, &options, store.as_ref()).await?;
        let now = SystemTime::now();
        let (secret, previous) = crate::engine::secrets::load(store.as_ref()).await?;
        if !previous.is_empty() {
            tracing::info!(
                earlier_generations = previous.len(),
                "visitor-key secret was rotated; earlier generations kept for consent records"
            );
        }
        // Preview tokens have a key of their own: one leaked or rotated never touches visitor keys or
        // the consent log.
        let preview_secret = store
            .secret(crate::domain::pageview::preview::KEY_NAME, *Secret::generate().expose())
            .await?;
        let preview = Arc::new(crate::domain::pageview::preview::PreviewKey::new(&Secret::from_bytes(
            preview_secret,
        )));
        let keyring = Arc::new(
            Keyring::with_salts(secret, secrets::shared_salts(store.as_ref(), now).await?).with_previous(previous),
        );
        let ledger = Ledger::start(
            &settings.consent,
            Arc::clone(&store),
            settings.store.url.local_dir().as_deref(),
        )
        .await?;
        let book = Arc::new(ConsentBook::default());
        let loading = std::time::Instant::now();
        let pos = crate::engine::consent::sync::load(store.as_ref(), &book).await?;
        tracing::info!(
            records = book.len(),
            opt_outs = book.opt_outs(),
            seconds = loading.elapsed().as_secs_f64(),
            "consent records loaded"
        );
        ledger.verify_in_background();
        let warm = std::time::Instant::now();
        crate::domain::signals::DeviceClass::warm_up();
        tracing::debug!(
            micros = warm.elapsed().as_micros() as u64,
            "User-Agent parsers warmed up"
        );
        let metrics = Arc::new(Metrics::new(&http::routes::patterns()));
        let locator = Arc::new(crate::engine::geo::Locator::open(&settings.geo)?);
        locator.spawn_reloader(Arc::clone(&metrics));
        let reloader = Arc::new(
            Reloader::start(
                settings.rules.dir.clone(),
                options,
                initial,
                Arc::clone(&store),
                Arc::clone(&metrics),
            )
            .await,
        );
        let rules = reloader.active();
        if settings.rules.watch {
            watch::spawn_watcher(Arc::clone(&reloader));
        }
        watch::spawn_sighup(Arc::clone(&reloader));
        tokio::spawn(secrets::salt_task(
            Arc::clone(&store),
            Arc::clone(&keyring),
            Arc::clone(&metrics),
        ));
        // Consent written on other nodes: announced by the store (LISTEN/NOTIFY on PostgreSQL) and
        // read incrementally by log position, with a periodic read as the safety net.
        let position =
            Arc::new(LogPosition::new(pos, Arc::new(tokio::sync::Notify::new())).with_metrics(Arc::clone(&metrics)));
        let poke = position.catch_up();
        store.watch_consent(Arc::new(move || poke.notify_one()));
        tokio::spawn(crate::engine::consent::sync::run(
            Arc::clone(&store),
            Arc::clone(&book),
            Arc::clone(&position),
            Arc::clone(&metrics),
        ));
        // Each process writes its own sketch rows; a report unions every node's (an HLL union is exact).
        let node = format!(
            "{}-{}",
            std::process::id(),
            hex::encode(&Secret::generate().expose()[..4])
        );
        let counts = Arc::new(Counts::new(Arc::clone(&store), node).with_metrics(Arc::clone(&metrics)));
        counts.refresh_network_salts(now).await?;
        counts.load_unit_secret().await?;
        tokio::spawn(crate::engine::counter::flush::run(
            Arc::clone(&counts),
            Arc::clone(&metrics),
            settings.counts.flush_seconds,
            settings.counts.release_refresh_seconds.max(1),
            settings.privacy.retention_days,
        ));

        let reports = Arc::new(
            Reports::start(
                Arc::clone(&store),
                Arc::clone(&counts),
                ReleasePolicy {
                    k: settings.privacy.k,
                    epsilon: settings.privacy.epsilon,
                    method: settings.experiments.method,
                    adjustment: settings.experiments.adjustment,
                    alpha: settings.experiments.alpha,
                    grace_seconds: 2 * settings.counts.flush_seconds + 60,
                },
            )
            .await?
            .with_metrics(Arc::clone(&metrics)),
        );
        tokio::spawn(crate::engine::reports::look_task(
            Arc::clone(&reports),
            Arc::clone(&rules),
            Arc::clone(&metrics),
            settings.counts.release_refresh_seconds.max(1),
            settings.privacy.retention_days,
        ));
        let parts = Parts {
            rules: Arc::clone(&rules),
            keyring,
            book,
            position,
            trail: Arc::new(AuditTrail::new(Arc::clone(&store))),
            store_health: StoreHealth::new(store),
            ledger,
            counts: Arc::clone(&counts),
            preview,
            metrics,
            reloader,
            reports,
            locator,
        };
        let state = Arc::new(AppState::new(settings, parts));
        let (metrics, draining) = (Arc::clone(&state.ops.metrics), Arc::clone(&state.ops.draining));
        let browser = http::edge::cors::BrowserOrigins::new(&settings.cors);
        tokio::spawn(http::edge::limits::sweep_task(Arc::clone(&state.edge.limits)));
        let (listener, port) = bind(&format!("{}:{}", settings.server.host, settings.server.port))?;
        let metrics_server = match &settings.server.metrics_addr {
            Some(addr) => Some(metrics_server(&addr.to_string(), Arc::clone(&state))?),
            None => None,
        };

        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(http::edge::logging::RequestLog)
                .configure(|cfg| http::configure(cfg, &state, &browser))
        })
        .shutdown_timeout(settings.server.shutdown_seconds)
        // SIGTERM drains first (`shutdown::stop_on_signal`); actix would close the listener at once.
        .disable_signals()
        // The request head must arrive within the body timeout too (actix's default is 5 s).
        .client_request_timeout(Duration::from_secs(settings.server.body_timeout_seconds));
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartupError::Bind {
                addr: format!("port {port}"),
                source,
            })?
            .run();
        tracing::info!(port, rules_version = %rules.load().version, "personify listening");
        if let Some((_, p)) = &metrics_server {
            tracing::info!(port = p, "metrics listening (GET /metrics without a token)");
        }
        Ok(Application {
            port,
            metrics_port: metrics_server.as_ref().map(|(_, p)| *p),
            server,
            metrics_server: metrics_server.map(|(s, _)| s),
            rules,
            counts,
            metrics,
            draining,
            drain: Duration::from_secs(settings.server.drain_seconds),
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `server.metrics_addr` listener, if configured.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// The version of the rules loaded at start.
    pub fn rules_version(&self) -> String {
        self.rules.load().version.clone()
    }

    /// Serves until SIGTERM (after a drain of `server.drain_seconds`) or SIGINT, stops gracefully
    /// (`server.shutdown_seconds`), then flushes every count still in memory so a graceful restart
    /// loses nothing.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut handles = vec![self.server.handle()];
        handles.extend(self.metrics_server.as_ref().map(Server::handle));
        tokio::spawn(shutdown::stop_on_signal(handles, self.draining, self.drain));
        let served = match self.metrics_server {
            Some(metrics) => tokio::join!(self.server, metrics).0,
            None => self.server.await,
        };
        match self.counts.flush().await {
            Ok(stats) => tracing::info!(sketches = stats.sketches, counters = stats.counters, "final flush done"),
            Err(e) => {
                self.metrics.store_error("flush");
                tracing::error!(error = %e, "final flush failed; counts since the last flush are lost");
            }
        }
        served
    }
}
