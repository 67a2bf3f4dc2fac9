//! Experiment statistics on released counts: always-valid (sequential) or fixed-horizon intervals
//! and p-values for each arm against the control, Holm or Benjamini–Hochberg adjustment over all
//! arms × goals, a sequential sample-ratio-mismatch test on exact exposures, the planned size and
//! a verdict; and the simulator that checks them. Why these methods:
//! docs/decisions/013-experiment-statistics.md.

pub mod adjust;
pub mod analyse;
pub mod compare;
pub mod input;
pub mod normal;
pub mod output;
pub mod plan;
pub mod sequential;
pub mod simulate;
pub mod srm;

pub use adjust::Adjustment;
pub use analyse::analyse;
pub use input::{AnalysisInput, ArmInput, Method, Plan};
pub use output::{Analysis, ArmResult, GoalResult, Verdict};
pub use srm::Srm;
