//! `GET /v1/admin/compliance`: the record of processing, generated from what is running.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{web, HttpResponse};

use crate::http::error::ApiError;
use crate::http::AppState;
use crate::domain::compliance::{record as build, ConsentCounts, Inputs};

/// `GET /v1/admin/compliance`
pub async fn record(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (log_entries, current_records, opt_outs) = state.store.consent_counts().await?;
    let now_hours = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d.as_secs() / 3600) as i64)
        .unwrap_or(0);
    let facts = &state.processing;
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
            latest_checkpoint: state.ledger.latest().await?.map(|c| c.size),
            public_key: state.ledger.vkey(),
            last_verification: state.ledger.last_verification(),
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
