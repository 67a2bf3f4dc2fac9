//! The simulator's report as Markdown tables.

use std::fmt;

use super::evaluate::NEGATIVE_CONTROL_LOOKS;
use super::{Path, Report, DAILY_LOOKS};

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn path(p: Path) -> &'static str {
    match p {
        Path::PerVisitor => "per visitor",
        Path::Aggregated => "aggregated",
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "Two arms (50/50), control rate {}, {DAILY_LOOKS} daily looks, k = {}, ε = {} per released count, \
             α = {}, Holm, sequential by default. {} of traffic is cookieless and excluded from experiment \
             counts (the server counts only visitors with a first-party id); the sizes are counted visitors. \
             Seed {}.\n",
            c.baseline,
            c.k,
            c.epsilon,
            c.alpha,
            pct(c.cookieless_share),
            c.seed
        )?;
        writeln!(
            f,
            "| visitors/arm | counted | runs A/A + A/B | A/A false positives, sequential | A/A, fixed-horizon read daily | \
             negative control: HLL z-test, {NEGATIVE_CONTROL_LOOKS} looks | coverage at every look A/A / A/B | \
             lift (relative) | power sequential | power fixed-horizon, day 28 | sequential planned size | \
             SRM false flags | looks suppressed by k |"
        )?;
        writeln!(f, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        for r in &self.sizes {
            writeln!(
                f,
                "| {} | {} | {} + {} | {} | {} | {} | {} / {} | {:.1}% | {} | {} | {} | {} | {} |",
                r.size,
                path(r.path),
                r.runs,
                r.runs,
                pct(r.false_positives),
                pct(r.peeking_false_positives),
                r.negative_control.map_or("—".into(), pct),
                pct(r.coverage_aa),
                pct(r.coverage_ab),
                100.0 * r.lift,
                pct(r.power_sequential),
                pct(r.power_fixed),
                r.planned_per_arm.map_or("—".into(), |p| p.to_string()),
                pct(r.srm_false_flags),
                pct(r.suppressed_looks),
            )?;
        }
        writeln!(f, "\n| SRM: visitors/arm | shares | loss of last arm | runs | counted | flagged (any of {DAILY_LOOKS} looks) |")?;
        writeln!(f, "|---:|---|---:|---:|---|---:|")?;
        for r in &self.srm {
            let shares: Vec<String> = r.shares.iter().map(|s| format!("{s}")).collect();
            writeln!(
                f,
                "| {} | {} | {} | {} | {} | {} |",
                r.size,
                shares.join("/"),
                pct(r.loss),
                r.runs,
                path(r.path),
                pct(r.flagged)
            )?;
        }
        if let Some(p) = &self.planned {
            writeln!(
                f,
                "\nPlanned size (sequential, control {}, +10% relative): {} per arm. Simulated power by then \
                 ({} runs each, aggregated):",
                c.baseline, p.planned_per_arm, p.runs
            )?;
            for (factor, power) in &p.power {
                writeln!(
                    f,
                    "- at {factor:.1}× ({} per arm): {}",
                    (p.planned_per_arm as f64 * factor).round(),
                    pct(*power)
                )?;
            }
        }
        Ok(())
    }
}
