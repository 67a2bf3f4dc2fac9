//! Consent as a service: the use cases visitors and compliance call (`choices`), and keeping every
//! node's consent book in step with the log (`sync`) and how far it is (`position`).

pub mod choices;
pub mod position;
pub mod sync;
