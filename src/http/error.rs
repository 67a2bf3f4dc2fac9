//! The one place API errors become HTTP: `{"error": {"code", "message", "field"?}}` with the right status.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::privacy::VisitorIdError;
use crate::domain::rules::load::JsonDiagnostic;
use crate::domain::signals::SignalError;

/// Everything a request can get wrong, and the few things the server can.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Body over `server.max_body_bytes`.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A body that is not JSON by its content type.
    #[error("content type must be application/json (or another +json type), or text/plain holding JSON as browsers send it without a preflight")]
    UnsupportedMediaType,
    /// The body could not be read from the connection.
    #[error("request body could not be read")]
    BadPayload,
    /// Not JSON at all.
    #[error("body is not valid JSON: {message}")]
    MalformedJson {
        /// Parser message (positions only, never content).
        message: String,
    },
    /// A field is missing, has the wrong type, or an impossible value.
    #[error("{field}: {message}")]
    InvalidField {
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A value looks like personal data under `pii_policy = "reject"`.
    #[error("{field}: {message}")]
    PersonalData {
        /// Dotted path of the field.
        field: String,
        /// What it looks like (the value is never echoed).
        message: String,
    },
    /// A query parameter is malformed.
    #[error("{param}: {message}")]
    InvalidParam {
        /// Parameter name.
        param: String,
        /// What is wrong.
        message: String,
    },
    /// No or an invalid token.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid token without the needed scope.
    #[error("{0}")]
    Forbidden(String),
    /// The store could not take a write; nothing was recorded.
    #[error("the store is unavailable, nothing was recorded; retry later")]
    StoreUnavailable,
    /// No experiment with that id in the active rules.
    #[error("no experiment with this id in the active rules")]
    UnknownExperiment,
    /// No such route.
    #[error("no such route: see /openapi.yaml")]
    NotFound,
    /// A browser request from an origin not in `cors.allowed_origins` (or `Origin: null`).
    #[error("requests from this origin are not allowed: add it to cors.allowed_origins")]
    OriginNotAllowed,
    /// The client network is over the route's rate limit.
    #[error("too many requests from this network; retry after the time in Retry-After")]
    RateLimited {
        /// Seconds until the next request would be admitted (sent as `Retry-After`).
        retry_after_secs: u64,
    },
    /// The body did not arrive within `server.body_timeout_seconds`.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// No consent log entry has this receipt id.
    #[error("no consent log entry has this receipt id")]
    ReceiptUnknown,
    /// The entry (or the log) is not yet covered by a checkpoint.
    #[error("not yet covered by a signed checkpoint; retry after the time in Retry-After")]
    NotCheckpointed {
        /// `consent.checkpoint_seconds` (sent as `Retry-After`).
        retry_after_secs: u64,
    },
    /// No checkpoint of the asked tree size was issued.
    #[error("no checkpoint of this tree size was issued")]
    CheckpointUnknown,
    /// A rule reload found errors; the active set keeps serving.
    #[error("the rules have errors; the active set keeps serving (see diagnostics)")]
    InvalidRules(crate::domain::rules::LoadErrors),
    /// Route exists, method does not.
    #[error("method not allowed on this route; use {allow}")]
    MethodNotAllowed {
        /// The method the route takes (sent as `Allow`).
        allow: &'static str,
    },
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::BadPayload => "bad_payload",
            ApiError::MalformedJson { .. } => "malformed_json",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::PersonalData { .. } => "personal_data",
            ApiError::InvalidParam { .. } => "invalid_param",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::StoreUnavailable => "store_unavailable",
            ApiError::UnknownExperiment => "unknown_experiment",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::OriginNotAllowed => "origin_not_allowed",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::BodyTimeout => "request_timeout",
            ApiError::ReceiptUnknown => "receipt_unknown",
            ApiError::NotCheckpointed { .. } => "not_checkpointed",
            ApiError::CheckpointUnknown => "checkpoint_unknown",
            ApiError::InvalidRules(_) => "invalid_rules",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::InvalidField { field, .. } | ApiError::PersonalData { field, .. } => Some(field),
            ApiError::InvalidParam { param, .. } => Some(param),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<Cow<'a, str>>,
    /// Rule diagnostics, as `personify check --format json` prints them.
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnostics: Option<Vec<JsonDiagnostic<'a>>>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadPayload
            | ApiError::MalformedJson { .. }
            | ApiError::InvalidField { .. }
            | ApiError::PersonalData { .. } => StatusCode::BAD_REQUEST,
            ApiError::InvalidParam { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound
            | ApiError::UnknownExperiment
            | ApiError::ReceiptUnknown
            | ApiError::NotCheckpointed { .. }
            | ApiError::CheckpointUnknown => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::OriginNotAllowed => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::InvalidRules(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        match self {
            ApiError::MethodNotAllowed { allow } => {
                res.insert_header(("Allow", *allow));
            }
            ApiError::RateLimited { retry_after_secs } | ApiError::NotCheckpointed { retry_after_secs } => {
                res.insert_header(("Retry-After", retry_after_secs.to_string()));
            }
            // The rest of the body may never come: do not keep the connection for it.
            ApiError::BodyTimeout => {
                res.insert_header(("Connection", "close"));
            }
            ApiError::Unauthorized(_) => {
                res.insert_header(("WWW-Authenticate", "Bearer"));
            }
            _ => {}
        }
        res.json(Body { error: self.detail() })
    }
}

impl ApiError {
    /// The `error` object of the response body.
    fn detail(&self) -> Detail<'_> {
        let message = match self {
            ApiError::InvalidField { message, .. }
            | ApiError::PersonalData { message, .. }
            | ApiError::InvalidParam { message, .. } => message.clone(),
            other => other.to_string(),
        };
        Detail {
            code: self.code(),
            message,
            field: self.field().map(Cow::Borrowed),
            diagnostics: match self {
                ApiError::InvalidRules(errors) => Some(errors.0.iter().map(JsonDiagnostic::from).collect()),
                _ => None,
            },
        }
    }

    /// This error as item `index` of a batch answer: the status and `error` object a single request
    /// would get, with the field under `requests[index]`.
    pub fn batch_item(&self, index: usize) -> BatchItemError<'_> {
        let mut error = self.detail();
        error.field = error.field.map(|f| Cow::Owned(format!("requests[{index}].{f}")));
        BatchItemError {
            status: self.status_code().as_u16(),
            error,
        }
    }
}

/// A failed item of a batch (`POST /v1/rtb/segments:batch`), in the place of its answer.
#[derive(Serialize)]
pub struct BatchItemError<'a> {
    status: u16,
    error: Detail<'a>,
}

impl From<SignalError> for ApiError {
    fn from(e: SignalError) -> Self {
        match e {
            SignalError::Invalid { field, message } => ApiError::InvalidField {
                message: format!("{field} {message}"),
                field,
            },
            SignalError::PersonalData { field, kind } => ApiError::PersonalData {
                message: format!(
                    "{field} looks like {}; personal data is not accepted (privacy.pii_policy = \"reject\")",
                    kind.describe()
                ),
                field,
            },
        }
    }
}

impl From<VisitorIdError> for ApiError {
    fn from(e: VisitorIdError) -> Self {
        ApiError::InvalidField {
            field: "visitor_id".into(),
            message: format!("visitor_id {e}"),
        }
    }
}

impl From<crate::domain::pageview::view::ViewError> for ApiError {
    fn from(e: crate::domain::pageview::view::ViewError) -> Self {
        match e {
            crate::domain::pageview::view::ViewError::Signal(e) => e.into(),
            crate::domain::pageview::view::ViewError::VisitorId(e) => e.into(),
        }
    }
}

impl From<crate::engine::reports::experiment::ReportError> for ApiError {
    fn from(e: crate::engine::reports::experiment::ReportError) -> Self {
        use crate::engine::reports::experiment::ReportError;
        match e {
            ReportError::UnknownExperiment => ApiError::UnknownExperiment,
            ReportError::UnknownPeriod => ApiError::InvalidParam {
                param: "period".into(),
                message: "the experiment has no analysis period of that number".into(),
            },
            ReportError::Store(e) => e.into(),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        // The cause goes to the log (it names no visitor); the client gets a clean 503.
        tracing::error!(error = %e, "store operation failed");
        ApiError::StoreUnavailable
    }
}

impl From<crate::engine::ledger::node::ProofError> for ApiError {
    fn from(e: crate::engine::ledger::node::ProofError) -> Self {
        use crate::engine::ledger::node::ProofError;
        match e {
            ProofError::UnknownReceipt => ApiError::ReceiptUnknown,
            ProofError::NotCheckpointed => ApiError::NotCheckpointed { retry_after_secs: 60 },
            ProofError::NoSuchCheckpoint => ApiError::CheckpointUnknown,
            ProofError::OutOfRange => ApiError::InvalidParam {
                param: "tree_size".into(),
                message:
                    "tree sizes must satisfy 1 <= first <= second <= the log's size, and a leaf lie inside the tree"
                        .into(),
            },
            ProofError::Store(e) => e.into(),
        }
    }
}

impl From<crate::engine::consent::choices::ConsentError> for ApiError {
    fn from(e: crate::engine::consent::choices::ConsentError) -> Self {
        use crate::engine::consent::choices::ConsentError;
        match e {
            ConsentError::NotInSet { field, .. } => ApiError::InvalidField {
                field: field.into(),
                message: e.to_string(),
            },
            ConsentError::Store(e) => e.into(),
            ConsentError::NotRecorded => ApiError::StoreUnavailable,
        }
    }
}

/// An error of an OFREP route (`/ofrep/v1/…`), answered in the shape the OpenFeature Remote
/// Evaluation Protocol names: `{"key"?, "errorCode", "errorDetails"}`, where the decide routes
/// answer `{"error": …}`. The refusals of the gate (403, 429) keep personify's own body: the protocol
/// gives those statuses none.
#[derive(Debug)]
pub struct OfrepError {
    /// The flag: a slot id of the active rules, `Some("")` for a key that names no slot (request
    /// text, never repeated), `None` for the bulk route.
    pub key: Option<String>,
    /// What went wrong.
    pub failure: OfrepFailure,
}

/// What an OFREP evaluation ran into.
#[derive(Debug)]
pub enum OfrepFailure {
    /// The request: the body or the evaluation context.
    Request(ApiError),
    /// No slot with this key in the active rules.
    FlagNotFound,
    /// The answer could not be built.
    General,
}

impl OfrepError {
    /// The protocol's error code.
    fn code(&self) -> &'static str {
        match &self.failure {
            OfrepFailure::Request(ApiError::MalformedJson { .. } | ApiError::BadPayload) => "PARSE_ERROR",
            OfrepFailure::Request(
                ApiError::InvalidField { .. } | ApiError::PersonalData { .. } | ApiError::InvalidParam { .. },
            ) => "INVALID_CONTEXT",
            OfrepFailure::Request(_) | OfrepFailure::General => "GENERAL",
            OfrepFailure::FlagNotFound => "FLAG_NOT_FOUND",
        }
    }
}

impl std::fmt::Display for OfrepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.failure {
            OfrepFailure::Request(e) => write!(f, "{}", e.detail().message),
            OfrepFailure::FlagNotFound => f.write_str("no slot with this key in the active rules"),
            OfrepFailure::General => f.write_str("the evaluation could not be answered"),
        }
    }
}

#[derive(Serialize)]
struct OfrepErrorBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(rename = "errorCode")]
    error_code: &'a str,
    #[serde(rename = "errorDetails")]
    error_details: String,
}

impl ResponseError for OfrepError {
    fn status_code(&self) -> StatusCode {
        match &self.failure {
            OfrepFailure::Request(e) => e.status_code(),
            OfrepFailure::FlagNotFound => StatusCode::NOT_FOUND,
            OfrepFailure::General => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if let OfrepFailure::Request(e) = &self.failure {
            // The headers personify's own body would carry (Retry-After, Allow, Connection: close).
            for (name, value) in e.error_response().headers() {
                if name != actix_web::http::header::CONTENT_TYPE && name != actix_web::http::header::CONTENT_LENGTH {
                    res.append_header((name.clone(), value.clone()));
                }
            }
        }
        res.json(OfrepErrorBody {
            key: self.key.as_deref(),
            error_code: self.code(),
            error_details: self.to_string(),
        })
    }
}
