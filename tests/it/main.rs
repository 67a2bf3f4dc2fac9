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
mod consent_strings;
mod console;
mod counts;
mod decide_api;
mod device_accuracy;
mod explain_api;
mod fuzz_regressions;
mod health;
mod last_good_rules;
mod ledger_attacks;
mod ledger_cli;
mod ledger_load;
mod ledger_migration;
mod ledger_python;
mod logging;
mod metrics;
mod nodes;
mod preview;
mod privacy_canary;
mod privacy_consent;
mod privacy_counts;
mod privacy_edge;
mod readme;
mod reload;
mod rtb;
mod rtb_corpus;
mod rule_index;
mod rule_locations;
mod rules_check;
mod rules_diff;
mod rules_scale;
mod secret_rotation;
mod shutdown;
mod store;
