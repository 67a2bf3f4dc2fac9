//! The pure domain: request input to signals, consent, visitor keys, rules, decisions, counting
//! vocabulary, experiment statistics, the consent log's maths, RTB and the record of processing. No
//! runtime, web framework, store, configuration or metrics here; it is all the fuzz targets link
//! (`docs/architecture.md`).

pub mod compliance;
pub mod consent;
pub mod counts;
pub mod experiments;
pub mod ledger;
pub mod pageview;
pub mod privacy;
pub mod rtb;
pub mod rules;
pub mod signals;
pub mod taxonomy;

#[cfg(test)]
pub(crate) mod testing;
