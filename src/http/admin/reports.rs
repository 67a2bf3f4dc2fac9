//! Analyst reports: released cells only (`docs/reports.md`). Segments: closed days and ISO weeks of
//! a range. Experiments: an analysis period so far, with its statistics and verdict.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::domain::counts::report::{parse_date, MAX_RANGE_DAYS};
use crate::domain::experiments::Method;
use crate::domain::privacy::utc_day;
use crate::engine::reports::Reports;
use crate::http::error::ApiError;
use crate::http::Pages;

fn bad(param: &str, message: &str) -> ApiError {
    ApiError::InvalidParam {
        param: param.into(),
        message: message.into(),
    }
}

/// `?from=&to=` of the segments report.
#[derive(Debug, Deserialize)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

fn query<T: for<'de> Deserialize<'de>>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|_| bad("query", "query string could not be parsed"))
}

/// The days asked for: `to` defaults to the last closed day, `from` to six days before `to`.
fn range(q: &RangeQuery, last_closed: i64) -> Result<(i64, i64), ApiError> {
    let to = match q.to.as_deref() {
        None => last_closed,
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

/// `GET /v1/admin/reports/segments?from=&to=`. Behind the `analyst` scope guard, as every report.
pub async fn segments(
    req: HttpRequest,
    state: web::Data<Pages>,
    reports: web::Data<Reports>,
) -> Result<HttpResponse, ApiError> {
    let now = std::time::SystemTime::now();
    let (from, to) = range(&query(&req)?, reports.last_closed_day(now))?;
    if to > utc_day(now) + 1 {
        return Err(bad("to", "to is in the future"));
    }
    let rules = state.rules.load();
    let report = reports.segments(&rules, from, to, now).await?;
    Ok(HttpResponse::Ok().json(report))
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
    plan: &'a crate::domain::rules::Plan,
}

/// `GET /v1/admin/reports/experiments`'s answer.
#[derive(Serialize)]
struct ExperimentList<'a> {
    rules_version: &'a str,
    goals: &'a [String],
    experiments: Vec<ExperimentInfo<'a>>,
}

/// `GET /v1/admin/reports/experiments`: the experiments reports exist for, with their slot, the
/// segment they run for, arms, goals and plan (no counts), so a client can ask for each one's report.
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
            plan: &e.plan,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ExperimentList {
        rules_version: &rules.version,
        goals: &rules.goals,
        experiments,
    }))
}

/// `?period=&method=` of an experiment report; `from`, `to` and `goal` are refused by name (an
/// experiment is reported over its analysis period, with every goal).
#[derive(Debug, Deserialize)]
struct ExperimentQuery {
    period: Option<String>,
    method: Option<String>,
    from: Option<String>,
    to: Option<String>,
    goal: Option<String>,
}

/// `GET /v1/admin/reports/experiments/{id}?period=&method=`
pub async fn experiment(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Pages>,
    reports: web::Data<Reports>,
) -> Result<HttpResponse, ApiError> {
    let q: ExperimentQuery = query(&req)?;
    for (name, given) in [("from", &q.from), ("to", &q.to), ("goal", &q.goal)] {
        if given.is_some() {
            return Err(bad(
                name,
                "experiment reports cover an analysis period with every goal; ask for ?period=N instead of a date range or goal",
            ));
        }
    }
    let period = match q.period.as_deref() {
        None => None,
        Some(s) => Some(
            s.parse::<i64>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| bad("period", "period must be a period number (1, 2, …)"))?,
        ),
    };
    let method = match q.method.as_deref() {
        None => None,
        Some("sequential") => Some(Method::Sequential),
        Some("fixed_horizon") => Some(Method::FixedHorizon),
        Some(_) => return Err(bad("method", "method must be sequential or fixed_horizon")),
    };
    let rules = state.rules.load();
    let report = reports
        .experiment(&rules, &path, period, method, std::time::SystemTime::now())
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
