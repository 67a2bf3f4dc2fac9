//! The one entry point: released counts (and exact exposures for SRM) in, everything the report
//! shows out. Pure and deterministic; the simulator runs the same function at every look.

use super::adjust::adjust;
use super::compare::{Comparison, Test};
use super::input::{AnalysisInput, Method};
use super::output::{Analysis, ArmResult, GoalResult, Verdict};
use super::plan::{self, DEFAULT_MDE};
use super::sequential;
use super::srm::srm;

/// One arm × goal comparison with its test results.
struct Cell {
    comparison: Option<Comparison>,
    p_value: Option<f64>,
}

/// Analyses an experiment's analysis period so far.
pub fn analyse(input: &AnalysisInput) -> Analysis {
    let alpha = if input.alpha > 0.0 && input.alpha < 1.0 {
        input.alpha
    } else {
        0.05
    };
    let variance = input.noise_variance.max(0.0);
    let goals = input.goals.len();
    let comparisons = input.arms.len().saturating_sub(1) * goals;
    let level = alpha / comparisons.max(1) as f64;
    let test = match input.method {
        Method::Sequential => Test::Sequential {
            rho: sequential::rho(alpha, plan::tuning(&input.plan, alpha, level, variance)),
        },
        Method::FixedHorizon => Test::FixedHorizon,
    };
    let primary = input
        .plan
        .primary_goal
        .as_ref()
        .and_then(|g| input.goals.iter().position(|x| x == g))
        .unwrap_or(0);

    let control = input.arms.first();
    let count =
        |arm: Option<&super::input::ArmInput>, g: usize| arm.and_then(|a| a.conversions.get(g).copied().flatten());
    let cells: Vec<Cell> = input
        .arms
        .iter()
        .skip(1)
        .flat_map(|arm| (0..goals).map(move |g| (arm, g)))
        .map(|(arm, g)| {
            let comparison = match (
                count(Some(arm), g),
                arm.exposures,
                count(control, g),
                control.and_then(|c| c.exposures),
            ) {
                (Some(x1), Some(n1), Some(x0), Some(n0)) => Comparison::new(x1, n1, x0, n0, variance),
                _ => None,
            };
            Cell {
                comparison,
                p_value: comparison.map(|c| c.p_value(test)),
            }
        })
        .collect();
    let adjusted = adjust(input.adjustment, &cells.iter().map(|c| c.p_value).collect::<Vec<_>>());

    let mut arms: Vec<ArmResult> = Vec::with_capacity(input.arms.len());
    for (i, arm) in input.arms.iter().enumerate() {
        let results = (0..goals)
            .map(|g| {
                let conversions = count(Some(arm), g);
                let rate = match (conversions, arm.exposures) {
                    (Some(x), Some(n)) if n > 0 => Some((x.max(0) as f64 / n as f64).clamp(0.0, 1.0)),
                    _ => None,
                };
                let mut result = GoalResult {
                    goal: input.goals[g].clone(),
                    conversions,
                    rate,
                    diff: None,
                    lift: None,
                    interval: None,
                    p_value: None,
                    adjusted_p_value: None,
                    adjusted_interval: None,
                };
                if i == 0 {
                    return result;
                }
                let at = (i - 1) * goals + g;
                if let (Some(c), Some(p), Some(p_adj)) = (cells[at].comparison, cells[at].p_value, adjusted[at]) {
                    // The level at which this comparison was tested after adjustment, so the
                    // interval and the adjusted p-value never disagree about 0.
                    let adjusted_level = if p_adj > 0.0 {
                        (alpha * p / p_adj).min(alpha)
                    } else {
                        level
                    };
                    result.diff = Some(c.diff);
                    result.lift = c.lift();
                    result.interval = Some(c.interval(test, alpha));
                    result.p_value = Some(p);
                    result.adjusted_p_value = Some(p_adj);
                    result.adjusted_interval = Some(c.interval(test, adjusted_level.max(f64::MIN_POSITIVE)));
                }
                result
            })
            .collect();
        arms.push(ArmResult {
            label: arm.label.clone(),
            exposures: arm.exposures,
            goals: results,
        });
    }

    let exact: Vec<u64> = input.arms.iter().map(|a| a.exposures_exact).collect();
    let shares: Vec<f64> = input.arms.iter().map(|a| a.share).collect();
    let srm = srm(&exact, &shares);

    let mde = input.plan.minimum_detectable_effect.unwrap_or(DEFAULT_MDE);
    let observed_baseline = arms.first().and_then(|c| c.goals.get(primary)).and_then(|g| g.rate);
    let baseline = input.plan.baseline_rate.or(observed_baseline);
    let rho = match test {
        Test::Sequential { rho } => rho,
        Test::FixedHorizon => 0.0,
    };
    let planned = baseline.and_then(|b| plan::planned_per_arm(input.method, rho, level, b, mde, variance));
    let smallest = input
        .arms
        .iter()
        .map(|a| a.exposures)
        .collect::<Option<Vec<i64>>>()
        .and_then(|v| v.into_iter().min());
    let progress = planned.map(|p| smallest.map_or(0.0, |s| (s.max(0) as f64 / p.max(1) as f64).min(1.0)));
    let more = planned.map(|p| p.saturating_sub(smallest.unwrap_or(0).max(0) as u64));
    let days_left = match (more, smallest) {
        (Some(more), Some(s)) if s > 0 && input.days_elapsed > 0.0 => {
            Some(more as f64 / (s as f64 / input.days_elapsed))
        }
        _ => None,
    };

    let verdict = verdict(&arms, primary, srm.flagged, more, mde);
    Analysis {
        method: input.method,
        adjustment: input.adjustment,
        alpha,
        primary_goal: input.goals.get(primary).cloned(),
        arms,
        srm,
        planned_per_arm: planned,
        progress,
        days_left,
        verdict,
    }
}

/// SRM first; then an arm whose adjusted interval on the primary goal excludes 0 (the best one
/// better, else the worst one worse); then keep running until the planned size; then no
/// difference if every arm's adjusted interval lies within ±MDE of the control rate.
fn verdict(arms: &[ArmResult], primary: usize, srm_flagged: bool, more: Option<u64>, mde: f64) -> Verdict {
    if srm_flagged {
        return Verdict::SampleRatioMismatch;
    }
    let read: Vec<(&ArmResult, &GoalResult, [f64; 2])> = arms
        .iter()
        .skip(1)
        .filter_map(|a| {
            let g = a.goals.get(primary)?;
            Some((a, g, g.adjusted_interval?))
        })
        .collect();
    let best = read
        .iter()
        .filter(|(_, _, i)| i[0] > 0.0)
        .max_by(|a, b| a.2[0].total_cmp(&b.2[0]));
    if let Some((arm, g, interval)) = best {
        return Verdict::Better {
            arm: arm.label.clone(),
            lift: g.lift,
            interval: *interval,
        };
    }
    let worst = read
        .iter()
        .filter(|(_, _, i)| i[1] < 0.0)
        .min_by(|a, b| a.2[1].total_cmp(&b.2[1]));
    if let Some((arm, g, interval)) = worst {
        return Verdict::Worse {
            arm: arm.label.clone(),
            lift: g.lift,
            interval: *interval,
        };
    }
    match more {
        Some(more) if more > 0 => return Verdict::KeepRunning { more_per_arm: more },
        None => return Verdict::Inconclusive,
        Some(_) => {}
    }
    let control_rate = arms.first().and_then(|c| c.goals.get(primary)).and_then(|g| g.rate);
    let all_read = read.len() + 1 == arms.len();
    match control_rate {
        Some(rate) if all_read && !read.is_empty() => {
            let bound = mde.abs() * rate;
            if read.iter().all(|(_, _, i)| i[0] >= -bound && i[1] <= bound) {
                Verdict::NoDifference
            } else {
                Verdict::Inconclusive
            }
        }
        _ => Verdict::Inconclusive,
    }
}

#[cfg(test)]
mod tests {
    use super::super::adjust::Adjustment;
    use super::super::input::{ArmInput, Plan};
    use super::*;

    fn arm(label: &str, share: f64, n: i64, conversions: &[i64]) -> ArmInput {
        ArmInput {
            label: label.into(),
            share,
            exposures_exact: n as u64,
            exposures: Some(n),
            conversions: conversions.iter().map(|&x| Some(x)).collect(),
        }
    }

    fn input(arms: Vec<ArmInput>, goals: &[&str], plan: Plan) -> AnalysisInput {
        AnalysisInput {
            arms,
            goals: goals.iter().map(|g| g.to_string()).collect(),
            method: Method::Sequential,
            adjustment: Adjustment::Holm,
            alpha: 0.05,
            noise_variance: 0.0,
            plan,
            days_elapsed: 10.0,
        }
    }

    fn plan() -> Plan {
        Plan {
            primary_goal: None,
            baseline_rate: Some(0.05),
            minimum_detectable_effect: Some(0.10),
        }
    }

    #[test]
    fn a_clear_winner_is_better_and_a_clear_loser_worse() {
        let a = analyse(&input(
            vec![arm("holdout", 0.5, 20_000, &[1000]), arm("b", 0.5, 20_000, &[1300])],
            &["g"],
            plan(),
        ));
        let Verdict::Better {
            arm: winner,
            lift,
            interval,
        } = &a.verdict
        else {
            panic!("{:?}", a.verdict)
        };
        assert_eq!(winner, "b");
        assert!((lift.unwrap() - 0.3).abs() < 1e-12 && interval[0] > 0.0);
        let a = analyse(&input(
            vec![arm("holdout", 0.5, 20_000, &[1300]), arm("b", 0.5, 20_000, &[1000])],
            &["g"],
            plan(),
        ));
        assert!(matches!(a.verdict, Verdict::Worse { .. }), "{:?}", a.verdict);
    }

    #[test]
    fn sample_ratio_mismatch_wins_over_everything() {
        let mut lossy = arm("b", 0.5, 19_000, &[1300]);
        lossy.exposures_exact = 19_000;
        let a = analyse(&input(
            vec![arm("holdout", 0.5, 20_000, &[1000]), lossy],
            &["g"],
            plan(),
        ));
        assert!(a.srm.flagged);
        assert_eq!(a.verdict, Verdict::SampleRatioMismatch);
    }

    #[test]
    fn keep_running_until_the_planned_size_then_no_difference() {
        let a = analyse(&input(
            vec![arm("holdout", 0.5, 10_000, &[500]), arm("b", 0.5, 10_000, &[505])],
            &["g"],
            plan(),
        ));
        let planned = a.planned_per_arm.unwrap();
        assert_eq!(
            a.verdict,
            Verdict::KeepRunning {
                more_per_arm: planned - 10_000
            }
        );
        assert!((a.progress.unwrap() - 10_000.0 / planned as f64).abs() < 1e-12);
        // 1,000 per arm per day: the rest takes (planned − 10,000) / 1,000 days.
        assert!((a.days_left.unwrap() - (planned - 10_000) as f64 / 1000.0).abs() < 1e-9);
        let n = 1_000_000;
        let a = analyse(&input(
            vec![arm("holdout", 0.5, n, &[50_000]), arm("b", 0.5, n, &[50_100])],
            &["g"],
            plan(),
        ));
        assert_eq!(a.verdict, Verdict::NoDifference, "{a:?}");
        let n = planned as i64 + 10;
        let a = analyse(&input(
            vec![arm("holdout", 0.5, n, &[n / 20]), arm("b", 0.5, n, &[n / 20 + 80])],
            &["g"],
            plan(),
        ));
        assert_eq!(a.verdict, Verdict::Inconclusive, "{a:?}");
    }

    #[test]
    fn adjusted_intervals_agree_with_adjusted_p_values_over_arms_and_goals() {
        let arms = vec![
            arm("holdout", 0.25, 20_000, &[1000, 400]),
            arm("b", 0.25, 20_000, &[1120, 400]),
            arm("c", 0.25, 20_000, &[1180, 470]),
            arm("d", 0.25, 20_000, &[1000, 330]),
        ];
        for adjustment in [Adjustment::Holm, Adjustment::BenjaminiHochberg] {
            for method in [Method::Sequential, Method::FixedHorizon] {
                let mut i = input(arms.clone(), &["g", "h"], Plan::default());
                i.adjustment = adjustment;
                i.method = method;
                let a = analyse(&i);
                for g in a.arms.iter().skip(1).flat_map(|a| &a.goals) {
                    let [lo, hi] = g.adjusted_interval.unwrap();
                    let excludes = lo > 0.0 || hi < 0.0;
                    assert_eq!(
                        excludes,
                        g.adjusted_p_value.unwrap() < 0.05,
                        "{adjustment:?} {method:?} {g:?}"
                    );
                    assert!(g.adjusted_p_value >= g.p_value);
                    let [ulo, uhi] = g.interval.unwrap();
                    assert!(lo <= ulo && hi >= uhi, "adjustment only widens");
                }
            }
        }
    }

    #[test]
    fn suppressed_counts_give_no_statistics_and_the_json_names_everything() {
        let mut hidden = arm("b", 0.5, 100, &[5]);
        hidden.exposures = None;
        let a = analyse(&input(vec![arm("holdout", 0.5, 100, &[5]), hidden], &["g"], plan()));
        assert_eq!(a.arms[1].goals[0].rate, None);
        assert_eq!(a.arms[1].goals[0].p_value, None);
        assert!(matches!(a.verdict, Verdict::KeepRunning { .. }));
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["method"], "sequential");
        assert_eq!(json["adjustment"], "holm");
        assert_eq!(json["verdict"]["kind"], "keep_running");
        assert_eq!(json["srm"]["flagged"], false);
        assert!(json["arms"][0]["goals"][0]["adjusted_interval"].is_null());
    }
}
