//! Counting vocabulary and report maths: what is counted (`Kind`), the sketch envelope, and the
//! statistics and k-anonymity test every released number goes through.

pub mod kind;
pub mod report;
pub mod sketch;

pub use kind::Kind;
pub use report::Seen;
pub use sketch::{Sketch, SketchError};
