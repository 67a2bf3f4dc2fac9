//! Analyst reports: segment sizes and experiment results, k-anonymous and optionally noised.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::domain::counts::report::{civil_from_days, compare, parse_date, Release, MAX_RANGE_DAYS};
use crate::domain::counts::{Kind, Seen};
use crate::domain::privacy::utc_day;
use crate::domain::rules::Experiment;
use crate::http::error::ApiError;
use crate::http::Pages;

#[derive(Debug, Deserialize)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    goal: Option<String>,
}

fn range(q: &RangeQuery) -> Result<(i64, i64), ApiError> {
    let bad = |param: &str, message: &str| ApiError::InvalidParam {
        param: param.into(),
        message: message.into(),
    };
    let today = utc_day(std::time::SystemTime::now());
    let to = match q.to.as_deref() {
        None => today,
        Some(s) => parse_date(s).ok_or_else(|| bad("to", "to must be a date YYYY-MM-DD"))?,
    };
    let from = match q.from.as_deref() {
        None => to - 6,
        Some(s) => parse_date(s).ok_or_else(|| bad("from", "from must be a date YYYY-MM-DD"))?,
    };
    if from > to {
        return Err(bad("from", "from is after to"));
    }
    if to - from + 1 > MAX_RANGE_DAYS {
        return Err(bad("to", &format!("the range covers more than {MAX_RANGE_DAYS} days")));
    }
    Ok((from, to))
}

fn query(req: &HttpRequest) -> Result<RangeQuery, ApiError> {
    web::Query::<RangeQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|_| ApiError::InvalidParam {
            param: "query".into(),
            message: "query string could not be parsed".into(),
        })
}

/// One segment's released size.
#[derive(Serialize)]
struct SegmentRow<'a> {
    id: &'a str,
    uniques: Option<i64>,
    views: Option<i64>,
    suppressed: bool,
}

/// `GET /v1/admin/reports/segments`'s answer.
#[derive(Serialize)]
struct SegmentsReport<'a> {
    from: String,
    to: String,
    k: u64,
    epsilon: f64,
    segments: Vec<SegmentRow<'a>>,
}

/// `GET /v1/admin/reports/segments?from=&to=`. Behind the `analyst` scope guard, as every report.
pub async fn segments(req: HttpRequest, state: web::Data<Pages>) -> Result<HttpResponse, ApiError> {
    let (from, to) = range(&query(&req)?)?;
    state.counts.flush().await?;
    let uniques = state
        .counts
        .seen_by(Kind::Segment, from, to, |k| Some(k.to_string()))
        .await?;
    let views = state.counts.sums(Kind::Views, from, to).await?;
    let release = state.release;
    let rules = state.rules.load();
    let segments = rules
        .segments
        .iter()
        .map(|s| {
            let seen = uniques.get(&s.id).copied().unwrap_or_default();
            // Views are released only with the visitors behind them: they are derived from the same rows.
            let allowed = release.allowed(seen);
            let v = views.get(&s.id).copied().unwrap_or(0) as f64;
            SegmentRow {
                id: &s.id,
                uniques: allowed.then(|| release.count(seen.visitors, 1.0)),
                views: allowed.then(|| release.count(v, 1.0)),
                suppressed: !allowed,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(SegmentsReport {
        from: civil_from_days(from),
        to: civil_from_days(to),
        k: release.k,
        epsilon: release.epsilon,
        segments,
    }))
}

/// An arm as listed: its variant and weight.
#[derive(Serialize)]
struct ArmInfo<'a> {
    variant: Option<&'a str>,
    weight: u32,
}

/// An experiment as listed (no counts).
#[derive(Serialize)]
struct ExperimentInfo<'a> {
    id: &'a str,
    slot: &'a str,
    segment: Option<&'a str>,
    holdout_percent: u32,
    arms: Vec<ArmInfo<'a>>,
    goals: &'a [String],
}

/// `GET /v1/admin/reports/experiments`'s answer.
#[derive(Serialize)]
struct ExperimentList<'a> {
    rules_version: &'a str,
    goals: &'a [String],
    experiments: Vec<ExperimentInfo<'a>>,
}

/// `GET /v1/admin/reports/experiments`: the experiments reports exist for, with their slot, the
/// segment they run for, arms and goals (no counts), so a client can ask for each one's report.
pub async fn experiments(state: web::Data<Pages>) -> Result<HttpResponse, ApiError> {
    let rules = state.rules.load();
    let experiments = rules
        .experiments()
        .map(|(slot, rule, e)| ExperimentInfo {
            id: &e.id,
            slot: &slot.id,
            segment: rules.segments.get(rule.segment).map(|s| s.id.as_str()),
            holdout_percent: e.holdout_bp / 100,
            arms: e
                .arms
                .iter()
                .map(|a| ArmInfo {
                    variant: slot.variants.get(a.variant).map(|v| v.id.as_str()),
                    weight: a.weight,
                })
                .collect(),
            goals: &e.goals,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ExperimentList {
        rules_version: &rules.version,
        goals: &rules.goals,
        experiments,
    }))
}

/// The arms of an experiment as (label, counting key), the holdout first when there is one.
fn arms(e: &Experiment, variant_ids: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if e.holdout_bp > 0 {
        out.push(("holdout".to_string(), e.count_key(None).to_string()));
    }
    for (i, label) in variant_ids.iter().enumerate() {
        out.push((label.clone(), e.count_key(Some(i)).to_string()));
    }
    out
}

/// `GET /v1/admin/reports/experiments/{id}`'s answer.
#[derive(Serialize)]
struct ExperimentReport<'a> {
    id: &'a str,
    from: String,
    to: String,
    goal: Option<&'a str>,
    control: Option<String>,
    holdout_percent: u32,
    k: u64,
    epsilon: f64,
    arms: Vec<ArmRow<'a>>,
}

/// One arm's row of an experiment report.
#[derive(Serialize)]
struct ArmRow<'a> {
    arm: &'a str,
    exposures: Option<i64>,
    conversions: Option<i64>,
    rate: Option<f64>,
    lift: Option<f64>,
    ci95: Option<[f64; 2]>,
    p_value: Option<f64>,
    suppressed: bool,
}

/// `GET /v1/admin/reports/experiments/{id}?from=&to=&goal=`
pub async fn experiment(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Pages>,
) -> Result<HttpResponse, ApiError> {
    let q = query(&req)?;
    let (from, to) = range(&q)?;
    let rules = state.rules.load();
    let found = rules
        .experiment(&path)
        .map(|e| (e.experiment, e.arm_labels().map(str::to_string).collect::<Vec<_>>()));
    let (exp, variant_ids) = found.ok_or(ApiError::UnknownExperiment)?;
    state.counts.flush().await?;
    let exposures = state
        .counts
        .seen_by(Kind::Exposure, from, to, |k| Some(k.to_string()))
        .await?;
    // Conversions of one goal, or the union over every goal when none is given.
    let goal = q.goal.as_deref();
    let conversions = state
        .counts
        .seen_by(Kind::ArmConversion, from, to, |key| {
            let (arm_key, g) = key.rsplit_once('/')?;
            goal.is_none_or(|want| want == g).then(|| arm_key.to_string())
        })
        .await?;
    let release = state.release;
    let arm_list = arms(exp, &variant_ids);
    let released: Vec<ArmCounts> = arm_list
        .iter()
        .map(|(_, key)| {
            ArmCounts::release(
                &release,
                exposures.get(key).copied().unwrap_or_default(),
                conversions.get(key).copied().unwrap_or_default(),
            )
        })
        .collect();
    let control = arm_list.first().map(|(label, _)| label.clone());
    let arms = arm_list
        .iter()
        .zip(&released)
        .enumerate()
        .map(|(i, ((label, _), arm))| arm.row(label, (i > 0).then(|| released.first()).flatten()))
        .collect();
    Ok(HttpResponse::Ok().json(ExperimentReport {
        id: &exp.id,
        from: civil_from_days(from),
        to: civil_from_days(to),
        goal: q.goal.as_deref(),
        control,
        holdout_percent: exp.holdout_bp / 100,
        k: release.k,
        epsilon: release.epsilon,
        arms,
    }))
}

/// One arm's counts as released: each `None` when it is below k (or derived from one that is).
#[derive(Debug, Clone, Copy)]
struct ArmCounts {
    /// Distinct visitors exposed.
    exposures: Option<i64>,
    /// Distinct converters; never released when the exposures are not.
    conversions: Option<i64>,
}

impl ArmCounts {
    /// Applies k to exposures and conversions alike, then noise on top of what is released.
    fn release(release: &Release, exposures: Seen, conversions: Seen) -> ArmCounts {
        let n = release
            .allowed(exposures)
            .then(|| release.count(exposures.visitors, 1.0));
        let x = n
            .filter(|_| release.allowed(conversions))
            .map(|n| release.count(conversions.visitors.min(exposures.visitors), 1.0).min(n));
        ArmCounts {
            exposures: n,
            conversions: x,
        }
    }

    /// The arm's row. `control` is the control's released counts (`None` for the control itself):
    /// every statistic is computed from released numbers only, so it is null when any input is
    /// suppressed and carries the noise of its inputs, never revealing an exact count.
    fn row<'a>(&self, label: &'a str, control: Option<&ArmCounts>) -> ArmRow<'a> {
        let pair = |a: &ArmCounts| a.exposures.zip(a.conversions).map(|(n, x)| (n as f64, x as f64));
        let own = pair(self);
        let rate = own.filter(|(n, _)| *n > 0.0).map(|(n, x)| (x / n).clamp(0.0, 1.0));
        let stats = own
            .zip(control.and_then(pair))
            .and_then(|((n1, x1), (n0, x0))| compare(x1, n1, x0, n0));
        ArmRow {
            arm: label,
            exposures: self.exposures,
            conversions: self.conversions,
            rate,
            lift: stats.and_then(|s| s.lift),
            ci95: stats.map(|s| [s.ci95.0, s.ci95.1]),
            p_value: stats.and_then(|s| s.p_value),
            suppressed: self.conversions.is_none(),
        }
    }
}
