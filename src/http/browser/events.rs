//! `POST /v1/events`: conversions, counted only with `measure`, on the arm recomputed from the key.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::domain::pageview::decide::bucket;
use crate::domain::signals::Warning;
use crate::http::browser::page_view::PageViewOutcome;
use crate::http::browser::page_view::{ConsentBody, PageBody, SessionBody, ViewFields};
use crate::http::edge::body::ApiJsonNoting;
use crate::http::edge::unknown_fields;
use crate::http::error::ApiError;
use crate::http::Pages;

/// `POST /v1/events` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    #[serde(rename = "type")]
    kind: String,
    goal: String,
    experiment: Option<String>,
    variant: Option<String>,
    site: Option<String>,
    page: PageBody,
    session: Option<SessionBody>,
    visitor_id: Option<String>,
    consent: Option<ConsentBody>,
    tz_offset_minutes: Option<i64>,
    /// A preview token: a previewed visit's conversions are never counted.
    preview: Option<String>,
}

impl unknown_fields::Noted for EventBody {
    const FIELDS: &'static [&'static str] = unknown_fields::EVENT_FIELDS;
}

fn goal(raw: &str) -> Result<String, ApiError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(ApiError::InvalidField {
            field: "goal".into(),
            message: "goal must be 1-64 characters of a-z, 0-9, _ - .".into(),
        })
    }
}

/// The arm a conversion was counted on.
#[derive(Serialize)]
struct CountedArm<'a> {
    id: &'a str,
    arm: &'a str,
}

/// `POST /v1/events`'s answer.
#[derive(Serialize)]
struct EventAnswer<'a> {
    counted: bool,
    experiment: Option<CountedArm<'a>>,
    consent: crate::domain::consent::Consent,
    warnings: Vec<Warning>,
}

/// Records one conversion.
pub async fn handle(
    ApiJsonNoting(dto): ApiJsonNoting<EventBody>,
    req: HttpRequest,
    state: web::Data<Pages>,
) -> Result<HttpResponse, ApiError> {
    if dto.kind != "conversion" {
        return Err(ApiError::InvalidField {
            field: "type".into(),
            message: "type must be \"conversion\"".into(),
        });
    }
    let goal = goal(&dto.goal)?;
    let rules = state.rules.load();
    let experiment = match dto.experiment.as_deref() {
        None => None,
        Some(id) => Some(rules.experiment(id).ok_or_else(|| ApiError::InvalidField {
            field: "experiment".into(),
            message: "no experiment with this id in the active rules".into(),
        })?),
    };
    // Only declared goals become counting keys, so their number is bounded by the rules.
    if !rules.goal_known(dto.experiment.as_deref(), &goal) {
        return Err(ApiError::InvalidField {
            field: "goal".into(),
            message: "goal is not declared in the active rules ([[goal]] or the experiment's goals)".into(),
        });
    }
    let fields = ViewFields {
        site: dto.site,
        page: dto.page,
        session: dto.session,
        visitor_id: dto.visitor_id,
        consent: dto.consent,
        tz_offset_minutes: dto.tz_offset_minutes,
    };
    let outcome = PageViewOutcome::read(&req, &state, fields, dto.preview.as_deref()).await?;
    let (view, consent) = (&outcome.view, outcome.consent());
    let (key, mut warnings) = (&view.key, view.warnings.clone());
    // The arm comes from the visitor key, exactly as at exposure; a client-sent variant is never trusted.
    let arm = experiment.map(|e| {
        let arm = e.experiment.arm_for_bucket(bucket(&e.experiment.id, key));
        (e.experiment, arm, e.arm_label(arm).to_string())
    });
    if let (Some((_, _, label)), Some(sent)) = (&arm, dto.variant.as_deref()) {
        if sent != label {
            warnings.push(Warning {
                code: "variant_mismatch",
                field: "variant".into(),
                message: "the variant sent differs from the visitor's arm; the arm recomputed from the visitor key was counted".into(),
            });
        }
    }
    warnings.extend(unknown_fields::warnings(&req, unknown_fields::EVENT_FIELDS));
    let counted = outcome.counted();
    if counted {
        state
            .counts
            .record_conversion(&rules, view, &goal, arm.as_ref().map(|(e, a, _)| (*e, *a)));
    }
    Ok(HttpResponse::Accepted().json(EventAnswer {
        counted,
        experiment: arm.as_ref().map(|(e, _, label)| CountedArm { id: &e.id, arm: label }),
        consent,
        warnings,
    }))
}
