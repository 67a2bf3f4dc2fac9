//! Consent as a service: keeping every node's consent book in step with the log (`sync`).

pub mod sync;
