//! Stateful services over the domain and the store, each owning its background task: counting and
//! its flush, the consent log node, consent sync and use cases, keys and salts, the admin audit
//! trail, rule reload, and the visitor's country from their address.

pub mod audit;
pub mod consent;
pub mod counter;
pub mod geo;
pub mod health;
pub mod ledger;
pub mod reload;
pub mod reports;
pub mod secrets;
