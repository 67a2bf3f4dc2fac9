//! The OFREP request body, `{"context": {…}}`: an OpenFeature evaluation context read as the page
//! view `/v1/decide` reads. `targetingKey` is the visitor id (it must parse as one, so an e-mail
//! address is refused, never used or repeated); the page, session, consent and preview fields have
//! the decide body's names, flattened into the context. Any other attribute an application puts in
//! its context (a plan, an e-mail address) is never read: it is dropped at the edge and only counted
//! in the answer's `warnings` metadata.

use actix_web::HttpRequest;
use serde::Deserialize;

use crate::http::browser::page_view::{ConsentBody, PageBody, PageViewOutcome, SessionBody, ViewFields};
use crate::http::edge::unknown_fields::Noted;
use crate::http::error::ApiError;
use crate::http::Pages;

/// `POST /ofrep/v1/evaluate/flags[/{key}]`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfrepBody {
    /// The evaluation context.
    pub context: EvaluationContext,
}

/// The attributes of an evaluation context personify reads.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationContext {
    #[serde(rename = "targetingKey")]
    targeting_key: Option<String>,
    url: String,
    referrer: Option<String>,
    category: Option<String>,
    site: Option<String>,
    session: Option<SessionBody>,
    consent: Option<ConsentBody>,
    tz_offset_minutes: Option<i64>,
    preview: Option<String>,
}

impl Noted for OfrepBody {
    const FIELDS: &'static [&'static str] = FIELDS;
}

/// Every field of [`OfrepBody`], nested ones as `parent.child`.
pub const FIELDS: &[&str] = &[
    "context",
    "context.targetingKey",
    "context.url",
    "context.referrer",
    "context.category",
    "context.site",
    "context.session",
    "context.session.pages_viewed",
    "context.session.categories",
    "context.session.returning",
    "context.consent",
    "context.consent.tcf",
    "context.consent.gpp",
    "context.consent.gpp_sid",
    "context.consent.us_privacy",
    "context.consent.gpc",
    "context.consent.google_consent_mode",
    "context.consent.google_consent_mode.ad_storage",
    "context.consent.google_consent_mode.ad_user_data",
    "context.consent.google_consent_mode.ad_personalization",
    "context.consent.google_consent_mode.analytics_storage",
    "context.consent.google_consent_mode.personalization_storage",
    "context.consent.google_consent_mode.functionality_storage",
    "context.consent.google_consent_mode.security_storage",
    "context.consent.withdrawn",
    "context.consent.after",
    "context.tz_offset_minutes",
    "context.preview",
];

impl EvaluationContext {
    /// Runs the page-view pipeline on this context, as decide does (the preview token from the
    /// `Personify-Preview` header or the context's `preview`).
    pub async fn read(self, req: &HttpRequest, pages: &Pages) -> Result<PageViewOutcome, ApiError> {
        let fields = ViewFields {
            site: self.site,
            page: PageBody::new(self.url, self.referrer, self.category),
            session: self.session,
            visitor_id: self.targeting_key,
            consent: self.consent,
            tz_offset_minutes: self.tz_offset_minutes,
        };
        PageViewOutcome::read(req, pages, fields, self.preview.as_deref())
            .await
            .map_err(in_context)
    }
}

/// The pipeline names fields as the decide body does; here they are the context's: `visitor_id` is
/// `context.targetingKey`, `page.url` is `context.url`, `session.categories` is
/// `context.session.categories`.
fn in_context(e: ApiError) -> ApiError {
    let rename = |field: String, message: String| {
        let name = match field.as_str() {
            "visitor_id" => "context.targetingKey".to_string(),
            f => format!("context.{}", f.strip_prefix("page.").unwrap_or(f)),
        };
        (message.replacen(&field, &name, 1), name)
    };
    match e {
        ApiError::InvalidField { field, message } => {
            let (message, field) = rename(field, message);
            ApiError::InvalidField { field, message }
        }
        ApiError::PersonalData { field, message } => {
            let (message, field) = rename(field, message);
            ApiError::PersonalData { field, message }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::edge::unknown_fields::{prune, DECIDE_FIELDS};

    #[test]
    fn the_context_takes_every_field_decide_takes_but_slots() {
        for field in DECIDE_FIELDS {
            let (top, rest) = field.split_once('.').unwrap_or((field, ""));
            let ofrep = match top {
                "page" if rest.is_empty() => continue,
                "page" => format!("context.{rest}"),
                "slots" => continue,
                "visitor_id" => "context.targetingKey".into(),
                _ => format!("context.{field}"),
            };
            assert!(FIELDS.contains(&ofrep.as_str()), "{ofrep}");
        }
    }

    #[test]
    fn unknown_attributes_are_pruned_and_the_rest_parses() {
        let mut body = serde_json::json!({"context": {"targetingKey": "k", "url": "https://a.example/",
            "email": "jane@example.com", "plan": "premium",
            "consent": {"google_consent_mode": {"ad_storage": "granted", "region": ["DE"]}},
            "session": {"pages_viewed": 2}}});
        assert!(serde_json::from_value::<OfrepBody>(body.clone()).is_err());
        let removed = prune(&mut body, FIELDS);
        assert_eq!(removed.len(), 3, "{removed:?}");
        serde_json::from_value::<OfrepBody>(body).unwrap();
    }
}
