//! Every integration test in one binary: one link instead of one per file (as zero2prod's
//! `tests/api/` and meilisearch's `tests/integration.rs`). Each former `tests/NAME.rs` is the
//! module `NAME`; run one with `cargo test --test it NAME::`. The shared helpers are `helpers`.

mod helpers;

mod audit;
mod bad_input;
mod bots;
mod browser_routes;
mod bucketing;
mod cli;
mod client_hints;
mod compliance;
mod conditions;
mod config_check;
mod consent_api;
mod consent_corpus;
mod consent_load;
mod consent_mode;
mod consent_strings;
mod console;
mod counts;
mod decide_api;
mod device_accuracy;
mod experiments;
mod explain_api;
mod fuzz_regressions;
mod geo;
mod health;
mod health_command;
mod last_good_rules;
mod ledger_attacks;
mod ledger_cli;
mod ledger_load;
mod ledger_migration;
mod ledger_python;
mod logging;
mod metrics;
mod nodes;
mod ofrep;
mod postgres_tls;
mod preview;
mod privacy_canary;
mod privacy_consent;
mod privacy_counts;
mod privacy_edge;
mod readme;
mod releases;
mod reload;
mod rtb;
mod rtb_corpus;
mod rule_index;
mod rules_check;
mod rules_diff;
mod secret_rotation;
mod shutdown;
mod store;
