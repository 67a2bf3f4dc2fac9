//! The token routes: compliance (consent log, record of processing, audit trail), analysts
//! (reports, explain, preview) and operators (rules), plus `whoami` for the console.

pub mod audit;
pub mod compliance;
pub mod consent_log;
pub mod explain;
pub mod preview;
pub mod reports;
pub mod rules;
pub mod whoami;
