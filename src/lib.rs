//! # personify
//!
//! A privacy-first personification server: it infers which *segment* an anonymous page view belongs
//! to from coarse, non-personal signals and answers with segment-level content decisions.
//!
//! # Layout
//!
//! Read a request top to bottom in this order (the map, with the request path and the privacy
//! invariants, is `docs/architecture.md`):
//!
//! - [`http`]: thin actix-web handlers. [`http::routes`] is the one route table (method, path, who may
//!   call it); [`http::body`] reads and parses bodies at the edge; [`http::error`] is the one place
//!   errors become HTTP; [`http::logging`] logs and counts requests without personal data. In front of
//!   the browser routes, [`http::edge`] checks `Origin` and the per-network rate limits
//!   ([`http::limits`]); [`http::client`] believes forwarded headers only from trusted proxies.
//! - [`signals`]: request input → typed [`signals::PageView`] → [`signals::Signals`], the only thing rules
//!   can read, with the PII firewall ([`signals::pii`]) on every free-text value and the device class
//!   from uap-core data, Client Hints and a crawler list.
//! - [`consent`]: which purposes (`personalize`, `measure`, `advertise`) apply, and the basis.
//! - [`privacy`]: visitor keys (HMAC of a first-party id or of IP+UA under a daily salt) and network
//!   keys (a network prefix under a weekly salt); the only module that sees raw ids and addresses.
//! - [`rules`]: `segment_rules/*.toml` read, type-checked and validated into typed diagnostics
//!   (`file:line:col: message`, with a suggestion), then compiled into an immutable [`rules::RuleSet`].
//! - [`view`]: the one page-view pipeline (fields → page view → signals → consent → visitor key →
//!   decision) that decide, events, explain and the RTB stages share.
//! - [`decide`]: segments → slot variants, experiments with deterministic bucketing.
//! - [`counts`]: HLL sketches (visitors and networks) and counters per worker shard, flushed to the
//!   store; report statistics and the one k-anonymity test.
//! - [`rtb`]: OpenRTB 2.5/2.6 bid requests as exchanges send them → IAB taxonomy buckets.
//! - [`ledger`]: the consent log as a transparency log (Merkle tree, proofs, signed checkpoints).
//! - [`compliance`]: the record of processing, generated from what runs; [`metrics`]: operational
//!   metrics with closed-set labels.
//! - [`store`]: the one `Store` trait (consent, secrets, salts, sketches) and its SQLite and
//!   PostgreSQL implementations.
//! - [`reload`]: live rule reload (directory watch, `SIGHUP`, the admin route), one swap at a time.
//! - [`config`], [`startup`], [`shutdown`] (drain, then a graceful stop), [`telemetry`], [`cli`]:
//!   wiring; [`demo`] serves the example site.
//!
//! The `server` feature (on by default) builds the HTTP server, the store and the CLI; without it the
//! library is the pure domain above, which is what the fuzz targets in `fuzz/` link.

#[cfg(feature = "server")]
pub mod audit;
#[cfg(feature = "server")]
pub mod cli;
#[cfg(feature = "server")]
pub mod cli_ledger;
pub mod compliance;
pub mod config;
pub mod consent;
#[cfg(feature = "server")]
pub mod counts;
pub mod decide;
#[cfg(feature = "server")]
pub mod demo;
pub mod explain;
#[cfg(feature = "server")]
pub mod http;
pub mod ledger;
pub mod metrics;
pub mod preview;
pub mod privacy;
#[cfg(feature = "server")]
pub mod reload;
pub mod replay;
pub mod rtb;
pub mod rules;
#[cfg(feature = "server")]
pub mod secrets;
#[cfg(feature = "server")]
pub mod shutdown;
pub mod signals;
#[cfg(feature = "server")]
pub mod startup;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod telemetry;
pub mod view;

/// Without the `server` feature only the sketch envelope codec and the report statistics of
/// [`counts`] are built: the rest needs the store, and the fuzz targets need only the pure parts.
#[cfg(not(feature = "server"))]
pub mod counts {
    pub mod report;
    pub mod sketch;
    pub use sketch::{Sketch, SketchError};
}
