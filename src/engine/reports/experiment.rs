//! An experiment's report: its analysis period so far, from released cells only. Each cell
//! (exposures of an arm, converters of an arm on a goal) is released again only when both the units
//! and the networks behind it have grown by k since its last release, so no two successive releases
//! differ by fewer than k units. The sample-ratio-mismatch test reads the exact exposures (it
//! releases one bit) and, once it has flagged a period, the flag stays.

use std::collections::HashMap;
use std::time::SystemTime;

use serde::Serialize;

use super::{millis, Reports};
use crate::domain::counts::release::{cell_id, count_variance, release_cell, Released, Support};
use crate::domain::counts::report::civil_from_days;
use crate::domain::counts::Kind;
use crate::domain::experiments::{analyse, Analysis, AnalysisInput, ArmInput, Method, Plan, Verdict};
use crate::domain::privacy::utc_day;
use crate::domain::rules::{Experiment, RuleSet};
use crate::store::experiments::{PeriodRow, ReleaseRow};
use crate::store::StoreError;

/// Every experiment cell's store id starts with this.
pub const PREFIX: &str = "exp/";

/// Why an experiment report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No experiment of that id in the active rules.
    #[error("no experiment of that id in the active rules")]
    UnknownExperiment,
    /// The experiment never had the period asked for.
    #[error("the experiment has no analysis period of that number")]
    UnknownPeriod,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One analysis period, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodInfo {
    /// Its number, from 1.
    pub period: i64,
    /// When it started (Unix milliseconds).
    pub started_at: i64,
    /// The UTC day it started.
    pub started: String,
}

/// `GET /v1/admin/reports/experiments/{id}`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentReport {
    /// The experiment.
    pub id: String,
    /// The period reported (`None` before the experiment's first exposure).
    pub period: Option<PeriodInfo>,
    /// Every period the experiment has had, oldest first.
    pub periods: Vec<PeriodInfo>,
    /// What a unit is: a first-party visitor (one per visitor id, across sites and days).
    pub units: &'static str,
    /// Cookieless visitors are not units: their key changes every day.
    pub cookieless: &'static str,
    /// Minimum visitors and networks behind each released count.
    pub k: u64,
    /// Noise budget per released count.
    pub epsilon: f64,
    /// The control arm (`holdout` when there is one, else the first arm).
    pub control: Option<String>,
    /// The goals, in the order of each arm's results.
    pub goals: Vec<String>,
    /// When the newest of its cells was released (Unix milliseconds).
    pub released_at: Option<i64>,
    /// Rates, intervals, p-values, SRM, progress and the verdict.
    pub analysis: Analysis,
}

/// The arms as (label, configured share), the holdout first when there is one.
fn arms(e: &Experiment, labels: &[String]) -> Vec<(String, f64)> {
    let holdout = f64::from(e.holdout_bp) / 10_000.0;
    let mut out = Vec::new();
    if e.holdout_bp > 0 {
        out.push(("holdout".to_string(), holdout));
    }
    for (arm, label) in e.arms.iter().zip(labels) {
        out.push((label.clone(), (1.0 - holdout) * f64::from(arm.weight) / 100.0));
    }
    out
}

/// The goals reported: the experiment's own, then the global ones.
fn goals(rules: &RuleSet, e: &Experiment) -> Vec<String> {
    let mut out: Vec<String> = e.goals.clone();
    for g in &rules.goals {
        if !out.contains(g) {
            out.push(g.clone());
        }
    }
    out
}

fn info(p: &PeriodRow) -> PeriodInfo {
    PeriodInfo {
        period: p.period,
        started_at: p.started_at,
        started: civil_from_days(p.started_at.div_euclid(86_400_000)),
    }
}

fn released(row: &ReleaseRow) -> Released {
    Released {
        release: u32::try_from(row.release).unwrap_or(u32::MAX),
        value: row.value,
        visitors: u64::try_from(row.visitors).unwrap_or(0),
        networks: row.networks,
    }
}

impl Reports {
    /// The report of experiment `id`'s period `period` (default: the current one), with the test
    /// `method` (default: the configured one).
    pub async fn experiment(
        &self,
        rules: &RuleSet,
        id: &str,
        period: Option<i64>,
        method: Option<Method>,
        now: SystemTime,
    ) -> Result<ExperimentReport, ReportError> {
        let found = rules.experiment(id).ok_or(ReportError::UnknownExperiment)?;
        let e = found.experiment;
        let labels: Vec<String> = found.arm_labels().map(str::to_string).collect();
        self.counts.flush().await?;
        let now_ms = millis(now);
        let current = match period {
            Some(_) => None,
            None => self.counts.periods().resolve(&e.id, &e.fingerprint, now_ms).await?,
        };
        let all = self.counts.periods().all(&e.id).await?;
        let chosen = match period.or(current) {
            Some(n) => Some(all.iter().find(|p| p.period == n).ok_or(ReportError::UnknownPeriod)?),
            // A node still on an older configuration: its latest period, read-only.
            None => all.last(),
        };
        let arm_list = arms(e, &labels);
        let goal_list = goals(rules, e);
        let (inputs, released_at) = match chosen {
            Some(p) => self.release_period(e, p, &arm_list, &goal_list, now).await?,
            None => (
                arm_list
                    .iter()
                    .map(|(label, share)| ArmInput {
                        label: label.clone(),
                        share: *share,
                        exposures_exact: 0,
                        exposures: None,
                        conversions: vec![None; goal_list.len()],
                    })
                    .collect(),
                None,
            ),
        };
        let policy = self.policy;
        let days_elapsed = chosen.map_or(0.0, |p| (now_ms - p.started_at).max(0) as f64 / 86_400_000.0);
        let mut analysis = analyse(&AnalysisInput {
            arms: inputs,
            goals: goal_list.clone(),
            method: method.unwrap_or(policy.method),
            adjustment: policy.adjustment,
            alpha: policy.alpha,
            noise_variance: count_variance(policy.k, policy.epsilon, 1.0),
            plan: Plan {
                primary_goal: e.plan.primary_goal.clone(),
                baseline_rate: e.plan.baseline_rate,
                minimum_detectable_effect: e.plan.minimum_detectable_effect,
            },
            days_elapsed,
        });
        if let Some(p) = chosen {
            self.keep_srm_flag(e, p, &mut analysis).await?;
        }
        Ok(ExperimentReport {
            id: e.id.clone(),
            period: chosen.map(info),
            periods: all.iter().map(info).collect(),
            units: "first_party_visitors",
            cookieless: "excluded",
            k: policy.k,
            epsilon: policy.epsilon,
            control: arm_list.first().map(|(l, _)| l.clone()),
            goals: goal_list,
            released_at,
            analysis,
        })
    }

    /// Releases (or reads back) every cell of a period and returns the analysis inputs.
    async fn release_period(
        &self,
        e: &Experiment,
        p: &PeriodRow,
        arm_list: &[(String, f64)],
        goal_list: &[String],
        now: SystemTime,
    ) -> Result<(Vec<ArmInput>, Option<i64>), StoreError> {
        let exact = self.store.unit_counts(&e.id, p.period).await?;
        let exact: HashMap<(&str, Option<&str>), u64> = exact
            .iter()
            .map(|(arm, goal, n)| ((arm.as_str(), goal.as_deref()), *n))
            .collect();
        // Networks guard k only: the largest single-week count of the period's days.
        let (from, to) = (p.started_at.div_euclid(86_400_000), utc_day(now));
        let prefix = format!("{}/", e.id);
        let networks = self
            .counts
            .network_unions_by(Kind::Exposure, from, to, |k| {
                k.starts_with(&prefix).then(|| k.to_string())
            })
            .await?;
        let conversion_networks = self
            .counts
            .network_unions_by(Kind::ArmConversion, from, to, |k| {
                k.starts_with(&prefix).then(|| k.to_string())
            })
            .await?;
        let scope = format!("{PREFIX}{}/{}/", e.id, p.period);
        let stored: HashMap<String, ReleaseRow> = self
            .store
            .releases(&scope)
            .await?
            .into_iter()
            .map(|r| (r.cell.clone(), r))
            .collect();
        let mut newest: Option<i64> = stored.values().map(|r| r.released_at).max();
        let mut inputs = Vec::with_capacity(arm_list.len());
        for (label, share) in arm_list {
            let arm_key = format!("{}/{label}", e.id);
            let exposures_exact = exact.get(&(label.as_str(), None)).copied().unwrap_or(0);
            let support = Support {
                visitors: exposures_exact,
                networks: networks.get(&arm_key).copied().unwrap_or(0.0),
            };
            let cell = format!("{scope}{}", cell_id("exposures", label, None, &p.period.to_string()));
            let exposures = self
                .release(&cell, exposures_exact, support, stored.get(&cell), &mut newest)
                .await?;
            let mut conversions = Vec::with_capacity(goal_list.len());
            for goal in goal_list {
                let n = exact.get(&(label.as_str(), Some(goal.as_str()))).copied().unwrap_or(0);
                let support = Support {
                    visitors: n,
                    networks: conversion_networks
                        .get(&format!("{arm_key}/{goal}"))
                        .copied()
                        .unwrap_or(0.0),
                };
                let cell = format!(
                    "{scope}{}",
                    cell_id("conversions", label, Some(goal), &p.period.to_string())
                );
                // Converters are released only alongside their arm's exposures.
                let x = match exposures {
                    Some(_) => self.release(&cell, n, support, stored.get(&cell), &mut newest).await?,
                    None => None,
                };
                conversions.push(x);
            }
            inputs.push(ArmInput {
                label: label.clone(),
                share: *share,
                exposures_exact,
                exposures,
                conversions,
            });
        }
        Ok((inputs, newest))
    }

    /// The cell's value as released: the stored release, or a new one when the support has grown
    /// by k (the first writer of a release number wins across nodes).
    async fn release(
        &self,
        cell: &str,
        exact: u64,
        support: Support,
        stored: Option<&ReleaseRow>,
        newest: &mut Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        let previous = stored.map(released);
        let policy = self.policy;
        let Some(next) = release_cell(
            policy.k,
            &self.noise,
            cell,
            policy.epsilon,
            1.0,
            exact,
            support,
            previous.as_ref(),
        ) else {
            return Ok(None);
        };
        if previous.is_some_and(|p| p.release >= next.release) {
            return Ok(Some(next.value));
        }
        let now = millis(SystemTime::now());
        let row = self
            .store
            .put_release(&ReleaseRow {
                cell: cell.to_string(),
                release: i64::from(next.release),
                value: next.value,
                visitors: i64::try_from(next.visitors).unwrap_or(i64::MAX),
                networks: next.networks,
                released_at: now,
            })
            .await?;
        *newest = Some(newest.map_or(row.released_at, |n| n.max(row.released_at)));
        Ok(Some(row.value))
    }

    /// Keeps a period's SRM flag once raised: the test is anytime-valid at its first crossing, and
    /// a split that was wrong once leaves the period's data unreadable.
    async fn keep_srm_flag(&self, e: &Experiment, p: &PeriodRow, analysis: &mut Analysis) -> Result<(), StoreError> {
        let cell = format!("{PREFIX}{}/{}/srm", e.id, p.period);
        let flagged_before = self.store.releases(&cell).await?.iter().any(|r| r.cell == cell);
        if analysis.srm.flagged && !flagged_before {
            self.store
                .put_first_releases(vec![ReleaseRow {
                    cell,
                    release: 1,
                    value: 1,
                    visitors: 0,
                    networks: 0.0,
                    released_at: millis(SystemTime::now()),
                }])
                .await?;
        } else if flagged_before {
            analysis.srm.flagged = true;
        }
        if analysis.srm.flagged {
            analysis.verdict = Verdict::SampleRatioMismatch;
        }
        Ok(())
    }

    /// Looks at every experiment's current period for a sample ratio mismatch and sets the
    /// experiments gauge; returns (flagged, not flagged).
    pub async fn look_at_srm(&self, rules: &RuleSet, now: SystemTime) -> Result<(usize, usize), ReportError> {
        let (mut flagged, mut ok) = (0, 0);
        let ids: Vec<String> = rules.experiments().map(|(_, _, e)| e.id.clone()).collect();
        for id in ids {
            let report = self.experiment(rules, &id, None, None, now).await?;
            if report.period.is_none() {
                continue;
            }
            if report.analysis.srm.flagged {
                flagged += 1;
            } else {
                ok += 1;
            }
        }
        if let Some(m) = &self.metrics {
            m.set_experiments(flagged, ok);
        }
        Ok((flagged, ok))
    }
}
