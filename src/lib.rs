//! # personify
//!
//! A privacy-first personification server: it infers which *segment* an anonymous page view belongs
//! to from coarse, non-personal signals and answers with segment-level content decisions.
//!
//! # Layout
//!
//! Read a request top to bottom in this order:
//!
//! - [`http`]: thin actix-web handlers. [`http::body`] reads and parses bodies at the edge,
//!   [`http::error`] is the one place errors become HTTP, [`http::logging`] logs without personal data.
//! - [`signals`]: request input → typed [`signals::PageView`] → [`signals::Signals`], the only thing rules
//!   can read, with the PII firewall ([`signals::pii`]) on every free-text value.
//! - [`consent`]: which purposes (`personalize`, `measure`, `advertise`) apply, and the basis.
//! - [`privacy`]: visitor keys (HMAC of a first-party id or of IP+UA under a daily salt); the only
//!   module that sees raw ids.
//! - [`rules`]: `segment_rules/*.toml` parsed with spans, validated (`file:line: message`), compiled
//!   into an immutable [`rules::RuleSet`].
//! - [`decide`]: segments → slot variants, experiments with deterministic bucketing.
//! - [`counts`]: HLL sketches and counters per worker shard, flushed to the store; report statistics.
//! - [`store`]: the one `Store` trait (consent, secrets, salts, sketches) and its SQLite implementation.
//! - [`config`], [`startup`], [`telemetry`], [`cli`]: wiring.
//!
//! The `server` feature (on by default) builds the HTTP server, the store and the CLI; without it the
//! library is the pure domain above, which is what the fuzz targets in `fuzz/` link.

#[cfg(feature = "server")]
pub mod cli;
pub mod config;
pub mod consent;
#[cfg(feature = "server")]
pub mod counts;
pub mod decide;
#[cfg(feature = "server")]
pub mod http;
pub mod privacy;
pub mod rtb;
pub mod rules;
pub mod signals;
#[cfg(feature = "server")]
pub mod startup;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod telemetry;

/// Without the `server` feature only the sketch envelope codec of [`counts`] is built: the rest
/// needs the store, and the fuzz targets need only the decoder.
#[cfg(not(feature = "server"))]
pub mod counts {
    pub mod sketch;
    pub use sketch::{Sketch, SketchError};
}
