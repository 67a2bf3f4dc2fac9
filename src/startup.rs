//! Building and running the server: shared by the binary and the integration tests.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};
use arc_swap::ArcSwap;

use crate::config::Settings;
use crate::http::{self, AppState};
use crate::privacy::{Keyring, Secret};
use crate::rules::{self, LoadErrors};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The rules directory has errors; each is `file:line: message`.
    #[error("segment rules are invalid:\n{0}")]
    Rules(#[from] LoadErrors),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// host:port attempted.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A configured header name is invalid.
    #[error(transparent)]
    Header(#[from] http::BadHeaderName),
}

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    rules: Arc<ArcSwap<rules::RuleSet>>,
}

impl Application {
    /// Loads rules, binds the listener (port 0 picks a free port) and prepares the server.
    pub fn build(settings: &Settings) -> Result<Application, StartupError> {
        let ruleset = rules::load_dir(&settings.rules.dir)?;
        let rules = Arc::new(ArcSwap::from_pointee(ruleset));
        // The secret lives in memory for this version: first-party bucketing is stable for the
        // process lifetime. The consent/store issue persists it so every restart and node agrees.
        let keyring = Keyring::new(Secret::generate(), SystemTime::now());
        let state = web::Data::new(AppState::new(settings, Arc::clone(&rules), keyring)?);

        let addr = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&addr).map_err(|source| StartupError::Bind {
            addr: addr.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?
            .port();

        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(middleware::from_fn(http::logging::log_request))
                .app_data(state.clone())
                .configure(http::configure)
        })
        .shutdown_timeout(5);
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
        Ok(Application { port, server, rules })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The version of the rules loaded at start.
    pub fn rules_version(&self) -> String {
        self.rules.load().version.clone()
    }

    /// Serves until SIGINT/SIGTERM (actix handles both with a graceful stop).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
