//! Analyst reports: segment sizes and experiment results, k-anonymous and optionally noised.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Scope;
use super::error::ApiError;
use super::AppState;
use crate::counts::report::{civil_from_days, compare, parse_date, MAX_RANGE_DAYS};
use crate::counts::Kind;
use crate::privacy::utc_day;
use crate::rules::Experiment;

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

/// `GET /v1/admin/reports/segments?from=&to=`
pub async fn segments(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.tokens.require(&req, &[Scope::Analyst])?;
    let (from, to) = range(&query(&req)?)?;
    state.counts.flush().await?;
    let uniques = state.counts.unions(Kind::Segment, from, to).await?;
    let views = state.counts.sums(Kind::Views, from, to).await?;
    let release = state.release;
    let rules = state.rules.load();
    let rows: Vec<Value> = rules
        .segments
        .iter()
        .map(|s| {
            let u = uniques.get(&s.id).copied().unwrap_or(0.0);
            if release.allowed(u) {
                let v = views.get(&s.id).copied().unwrap_or(0) as f64;
                json!({"id": s.id, "uniques": release.count(u, 1.0), "views": release.count(v, 1.0), "suppressed": false})
            } else {
                json!({"id": s.id, "uniques": null, "views": null, "suppressed": true})
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "from": civil_from_days(from),
        "to": civil_from_days(to),
        "k": release.k,
        "epsilon": release.epsilon,
        "segments": rows,
    })))
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

/// `GET /v1/admin/reports/experiments/{id}?from=&to=&goal=`
pub async fn experiment(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.tokens.require(&req, &[Scope::Analyst])?;
    let q = query(&req)?;
    let (from, to) = range(&q)?;
    let rules = state.rules.load();
    let found = rules
        .experiment(&path)
        .map(|e| (e.experiment, e.arm_labels().map(str::to_string).collect::<Vec<_>>()));
    let (exp, variant_ids) = found.ok_or(ApiError::UnknownExperiment)?;
    state.counts.flush().await?;
    let exposures = state.counts.unions(Kind::Exposure, from, to).await?;
    // Conversions of one goal, or the union over every goal when none is given.
    let conversion_rows = state.counts.unions_by(Kind::ArmConversion, from, to, |key| {
        let (arm_key, goal) = key.rsplit_once('/')?;
        q.goal.as_deref().is_none_or(|g| g == goal).then(|| arm_key.to_string())
    });
    let conversions: HashMap<String, f64> = conversion_rows.await?;
    let release = state.release;
    let arm_list = arms(exp, &variant_ids);
    let control = arm_list.first().map(|(label, key)| (label.clone(), key.clone()));
    let control_n = control
        .as_ref()
        .map_or(0.0, |(_, k)| exposures.get(k).copied().unwrap_or(0.0));
    let control_x = control
        .as_ref()
        .map_or(0.0, |(_, k)| conversions.get(k).copied().unwrap_or(0.0));
    let rows: Vec<Value> = arm_list
        .iter()
        .map(|(label, key)| {
            let n = exposures.get(key).copied().unwrap_or(0.0);
            let x = conversions.get(key).copied().unwrap_or(0.0).min(n);
            if !release.allowed(n) || !release.allowed(control_n) {
                return json!({"arm": label, "exposures": null, "conversions": null, "rate": null, "lift": null, "ci95": null, "p_value": null, "suppressed": true});
            }
            let stats = compare(x, n, control_x.min(control_n), control_n);
            let is_control = control.as_ref().is_some_and(|(c, _)| c == label);
            json!({
                "arm": label,
                "exposures": release.count(n, 1.0),
                "conversions": release.count(x, 1.0),
                "rate": stats.map(|s| s.rate),
                "lift": if is_control { None } else { stats.and_then(|s| s.lift) },
                "ci95": if is_control { None } else { stats.map(|s| [s.ci95.0, s.ci95.1]) },
                "p_value": if is_control { None } else { stats.and_then(|s| s.p_value) },
                "suppressed": false,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "id": exp.id,
        "from": civil_from_days(from),
        "to": civil_from_days(to),
        "goal": q.goal,
        "control": control.map(|(label, _)| label),
        "holdout_percent": exp.holdout_bp / 100,
        "k": release.k,
        "epsilon": release.epsilon,
        "arms": rows,
    })))
}
