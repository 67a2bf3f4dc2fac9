//! An experiment's plan (`primary_goal`, `baseline_rate`, `minimum_detectable_effect`): what the
//! report's planned size and verdicts are computed from (`docs/reports.md`).

use toml::de::{DeTable, DeValue};

use super::diagnostic::ErrorKind;
use super::read::{type_name, FileCtx, Loc};

/// The plan as written, with where its goal was named (checked against the goals when linking).
#[derive(Debug, Default)]
pub(super) struct RawPlan {
    pub primary_goal: Option<(String, Loc)>,
    pub baseline_rate: Option<f64>,
    pub minimum_detectable_effect: Option<f64>,
}

/// The keys of an experiment table that make up its plan.
pub(super) const PLAN_KEYS: [&str; 3] = ["primary_goal", "baseline_rate", "minimum_detectable_effect"];

impl FileCtx<'_> {
    /// Reads the plan keys of an experiment table; `None` after reporting a problem.
    pub(super) fn plan(&mut self, t: &DeTable<'_>, span: &std::ops::Range<usize>) -> Option<RawPlan> {
        let mut ok = true;
        let primary_goal = match t.get("primary_goal") {
            None => None,
            Some(v) => match v.get_ref().as_str() {
                Some(s) if self.check_id(s, "primary_goal", v.span()) => Some((s.to_string(), self.loc(&v.span()))),
                Some(_) => {
                    ok = false;
                    None
                }
                None => {
                    self.err(
                        v.span(),
                        ErrorKind::WrongType,
                        format!("`primary_goal` must be a goal id, not {}", type_name(v.get_ref())),
                    );
                    ok = false;
                    None
                }
            },
        };
        let mut rate = |key: &str, low: f64, high: f64, what: &str| -> Option<f64> {
            let v = t.get(key)?;
            let x = match v.get_ref() {
                DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
                DeValue::Integer(_) => None,
                _ => None,
            };
            match x {
                Some(x) if x > low && x < high => Some(x),
                Some(_) => {
                    self.err(
                        v.span(),
                        ErrorKind::InvalidValue,
                        format!("`{key}` must be {what}, strictly between {low} and {high}"),
                    );
                    ok = false;
                    None
                }
                None => {
                    self.err(
                        v.span(),
                        ErrorKind::WrongType,
                        format!(
                            "`{key}` must be a decimal number ({what}), not {}",
                            type_name(v.get_ref())
                        ),
                    );
                    ok = false;
                    None
                }
            }
        };
        let baseline_rate = rate("baseline_rate", 0.0, 1.0, "a conversion rate such as 0.05");
        let minimum_detectable_effect = rate(
            "minimum_detectable_effect",
            0.0,
            10.0,
            "a relative lift such as 0.10 for +10%",
        );
        if baseline_rate.is_some() != minimum_detectable_effect.is_some() {
            self.err(
                span.clone(),
                ErrorKind::MissingKey,
                "`baseline_rate` and `minimum_detectable_effect` go together: the planned size needs both",
            );
            ok = false;
        }
        ok.then_some(RawPlan {
            primary_goal,
            baseline_rate,
            minimum_detectable_effect,
        })
    }
}
