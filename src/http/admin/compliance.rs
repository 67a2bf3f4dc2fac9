//! `GET /v1/admin/compliance`: the record of processing, generated from what is running.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{web, HttpResponse};

use crate::domain::compliance::{record as build, ConsentCounts, Inputs};
use crate::http::error::ApiError;
use crate::http::{LogState, Pages, ProcessingFacts};

/// `GET /v1/admin/compliance`
pub async fn record(
    state: web::Data<Pages>,
    log: web::Data<LogState>,
    facts: web::Data<ProcessingFacts>,
) -> Result<HttpResponse, ApiError> {
    let (log_entries, current_records, opt_outs) = log.ledger.counts().await?;
    let now_hours = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d.as_secs() / 3600) as i64)
        .unwrap_or(0);
    let inputs = Inputs {
        controller: facts.controller.clone(),
        k: state.release.k,
        epsilon: state.release.epsilon,
        retention_days: facts.retention_days,
        store_kind: facts.store_kind,
        consent: ConsentCounts {
            log_entries,
            current_records,
            opt_outs,
            latest_checkpoint: log.ledger.latest().await?.map(|c| c.size),
            public_key: log.ledger.vkey(),
            last_verification: log.ledger.last_verification(),
        },
        salt_ages_hours: state
            .keyring
            .salt_days()
            .iter()
            .map(|day| now_hours - day * 24)
            .collect(),
        opt_in_countries: facts.opt_in_countries.clone(),
    };
    let rules = state.rules.load();
    Ok(HttpResponse::Ok().json(build(&rules, inputs)))
}
