//! Wiring: start-up (`startup`), graceful shutdown (`shutdown`), logging (`telemetry`) and the demo
//! site's server (`demo`). Only `main.rs` imports this module.

pub mod demo;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
