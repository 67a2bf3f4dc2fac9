//! Keeping `warnings` small: one per kind of problem (code and message) and field, and a bounded total, so a request
//! cannot make an answer far larger than itself (4,000 unknown slots → one warning, not 4,000).

use super::Warning;

/// Most warnings in one answer, the "suppressed" note included.
pub const MAX_WARNINGS: usize = 16;

/// The field with list indices blanked (`slots[17]` → `slots[]`): the same problem in every element
/// of a list is one warning.
fn shape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut in_index = false;
    for c in field.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            c if in_index && c.is_ascii_digit() => {}
            c => out.push(c),
        }
    }
    out
}

/// Deduplicates by code, field shape and message (the first one is kept), caps the total at
/// [`MAX_WARNINGS`], and says how many were left out.
pub fn cap_warnings(warnings: Vec<Warning>) -> Vec<Warning> {
    // Nearly every page view has no warning or one: nothing to deduplicate, nothing to allocate.
    if warnings.len() <= 1 {
        return warnings;
    }
    let total = warnings.len();
    let mut seen: Vec<(&'static str, String, String)> = Vec::new();
    let mut kept = Vec::new();
    for w in warnings {
        if kept.len() == MAX_WARNINGS - 1 {
            break;
        }
        let key = (w.code, shape(&w.field), w.message.clone());
        if !seen.contains(&key) {
            seen.push(key);
            kept.push(w);
        }
    }
    // Everything not kept was either a duplicate or past the cap.
    let left_out = total - kept.len();
    if left_out > 0 {
        kept.push(Warning {
            code: "warnings_suppressed",
            field: "warnings".into(),
            message: format!("{left_out} more warnings suppressed (duplicates or over the limit of {MAX_WARNINGS})"),
        });
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(code: &'static str, field: &str) -> Warning {
        Warning {
            code,
            field: field.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn duplicates_collapse_and_the_total_is_capped() {
        let many: Vec<Warning> = (0..4000).map(|i| w("unknown_slot", &format!("slots[{i}]"))).collect();
        let capped = cap_warnings(many);
        assert_eq!(capped.len(), 2);
        assert_eq!(capped[0].field, "slots[0]");
        assert!(capped[1].message.starts_with("3999 more"));

        let distinct: Vec<Warning> = (0..40).map(|i| w("x", &format!("f{i}"))).collect();
        assert_eq!(cap_warnings(distinct).len(), MAX_WARNINGS);

        let few = vec![w("a", "f"), w("b", "f")];
        assert_eq!(cap_warnings(few.clone()), few);
    }
}
