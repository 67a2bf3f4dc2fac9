//! Routes anyone may call: health and the API description, metrics (scoped, or on their own
//! listener), the console's static files, and the consent log's public face.

pub mod console;
pub mod health;
pub mod ledger;
pub mod metrics;
