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
//!   In front of the browser routes, [`http::edge`] checks `Origin` and the per-network rate limits
//!   ([`http::limits`]); [`http::client`] believes forwarded headers only from trusted proxies.
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
//! - [`config`], [`startup`], [`telemetry`], [`cli`]: wiring; [`demo`] serves the example site.

pub mod cli;
pub mod compliance;
pub mod config;
pub mod consent;
pub mod counts;
pub mod decide;
pub mod demo;
pub mod http;
pub mod ledger;
pub mod metrics;
pub mod privacy;
pub mod rtb;
pub mod rules;
pub mod signals;
pub mod startup;
pub mod store;
pub mod telemetry;
