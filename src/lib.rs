//! # personify
//!
//! A privacy-first personification server: it infers which *segment* an anonymous page view belongs
//! to from coarse, non-personal signals and answers with segment-level content decisions.
//!
//! # Layout
//!
//! The folders are layers; each may import only the layers listed after it, and
//! `tests/layers.rs` fails on any import that breaks the rule (`docs/architecture.md`):
//!
//! - [`app`]: start-up, shutdown, telemetry; everything. Only `main.rs` imports it.
//! - [`cli`]: the command line; domain, config, store, engine (never http).
//! - [`http`]: the edge and the API by audience; engine, domain, config, metrics.
//! - [`engine`]: stateful services and their background tasks; domain, store, config, metrics.
//! - [`store`]: role traits and their SQLite and PostgreSQL implementations; domain.
//! - [`config`]: settings parsed into typed values at load; domain.
//! - [`metrics`]: operational metrics with closed-set labels; nothing of ours.
//! - [`domain`]: pure code; nothing of ours outside it.
//!
//! The `server` feature (on by default) builds everything; without it the library is [`domain`]
//! alone, which is what the fuzz targets in `fuzz/` link.

pub mod domain;

#[cfg(feature = "server")]
pub mod app;
#[cfg(feature = "server")]
pub mod cli;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod engine;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod store;
