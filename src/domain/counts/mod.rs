//! Counting vocabulary and report maths: what is counted (`Kind`), the sketch envelope, exact unit
//! sets for experiments, releases computed once, and the k-anonymity test every released number
//! goes through.

pub mod exact;
pub mod kind;
pub mod release;
pub mod report;
pub mod sketch;

pub use kind::Kind;
pub use report::Seen;
pub use sketch::{Sketch, SketchError};
