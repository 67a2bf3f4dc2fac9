//! The page view: the one pipeline every route and command shares (`view`), segments to slot
//! variants (`decide`), UAT previews (`preview`), why a view gets what it gets (`explain`), and the
//! impact of a rule change replayed over sample views (`impact`).

pub mod decide;
pub mod explain;
pub mod impact;
pub mod preview;
pub mod view;
