//! The routes a web page calls: decisions, conversions, consent, and the SDK itself.

pub mod consent;
pub mod decide;
pub mod events;
pub mod page_view;
pub mod sdk;
