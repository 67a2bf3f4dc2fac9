//! Reading JSON bodies at the edge: size limit, content type, and errors that name the field.

use std::sync::LazyLock;

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{dev, web, FromRequest, HttpMessage, HttpRequest};
use regex::Regex;
use serde::de::DeserializeOwned;

use crate::http::edge::unknown_fields::Noted;
use crate::http::edge::Edge;
use crate::http::error::ApiError;

/// Body size limit when no state is attached (unit tests).
const DEFAULT_MAX_BODY: usize = 16 * 1024;

/// A JSON body read at the edge (content type, `server.max_body_bytes` times `BODIES`, body
/// timeout) and parsed into `T`, with errors that name the field and never the value. Handlers take
/// it as an argument; a batch route allows `BODIES` single bodies.
#[derive(Debug)]
pub struct ApiJson<T, const BODIES: usize = 1>(pub T);

impl<T: DeserializeOwned + 'static, const BODIES: usize> FromRequest for ApiJson<T, BODIES> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        let req = req.clone();
        // `web::Payload` only takes the stream; its future is ready at once.
        let payload = web::Payload::from_request(&req, payload).into_inner();
        Box::pin(async move { extract(&req, payload, BODIES, None).await.map(ApiJson) })
    }
}

/// As [`ApiJson`], and the keys no field took are kept for the handler's `unknown_field` warnings
/// (`unknown_fields.rs`). Only the routes that warn pay for tracking them: a bid request carries
/// dozens of fields personify never reads.
#[derive(Debug)]
pub struct ApiJsonNoting<T>(pub T);

impl<T: DeserializeOwned + Noted + 'static> FromRequest for ApiJsonNoting<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        let req = req.clone();
        let payload = web::Payload::from_request(&req, payload).into_inner();
        Box::pin(async move { extract(&req, payload, 1, Some(T::FIELDS)).await.map(ApiJsonNoting) })
    }
}

/// Reads and parses a body of up to `bodies` times the size limit; with `note` (the body's fields),
/// the unknown keys go into the request's extensions.
async fn extract<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: Result<web::Payload, actix_web::Error>,
    bodies: usize,
    note: Option<&'static [&'static str]>,
) -> Result<T, ApiError> {
    let payload = payload.map_err(|_| ApiError::BadPayload)?;
    let limit = req
        .app_data::<web::Data<Edge>>()
        .map_or(DEFAULT_MAX_BODY, |s| s.max_body_bytes)
        .saturating_mul(bodies);
    let bytes = read(req, payload, limit).await?;
    let Some(fields) = note else {
        return json(&bytes);
    };
    let (value, ignored) = parse(&bytes, Some(fields))?;
    if !ignored.is_empty() {
        req.extensions_mut()
            .insert(crate::http::edge::unknown_fields::IgnoredKeys(ignored));
    }
    Ok(value)
}

/// Whether a `Content-Type` is JSON (`application/json`, `application/…+json`) or `text/plain`,
/// whatever its case and parameters. Compared without a lowercased copy (an allocation per page view).
fn accepted_type(content_type: &str) -> bool {
    let ct = content_type.split(';').next().unwrap_or("").trim().as_bytes();
    let json = ct.eq_ignore_ascii_case(b"application/json")
        || (ct.len() >= 17
            && ct[..12].eq_ignore_ascii_case(b"application/")
            && ct[ct.len() - 5..].eq_ignore_ascii_case(b"+json"));
    json || ct.eq_ignore_ascii_case(b"text/plain")
}

/// Body timeout when no state is attached (unit tests).
const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads the whole body, refusing more than `limit` bytes and non-JSON content types.
///
/// `text/plain` is accepted too: browser SDKs send it to avoid a CORS preflight on every page view.
pub async fn read(req: &HttpRequest, payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        if !accepted_type(ct.to_str().unwrap_or("")) {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    // A client trickling its body would hold a connection (and a worker's memory) for as long as it
    // likes; the whole body must arrive within the configured time.
    let timeout = req
        .app_data::<web::Data<Edge>>()
        .map_or(DEFAULT_BODY_TIMEOUT, |s| s.body_timeout);
    let body = payload.to_bytes_limited(limit);
    futures_util::pin_mut!(body);
    // A page view's body usually came in with its headers: taken at once, it needs no timer (arming
    // and clearing one is a measurable part of a small request).
    let read = match futures_util::FutureExt::now_or_never(body.as_mut()) {
        Some(read) => Ok(read),
        None => tokio::time::timeout(timeout, body).await,
    };
    match read {
        Err(_) => Err(ApiError::BodyTimeout),
        Ok(Err(_)) => Err(ApiError::PayloadTooLarge { limit }),
        Ok(Ok(Err(_))) => Err(ApiError::BadPayload),
        Ok(Ok(Ok(bytes))) => Ok(bytes),
    }
}

static POSITION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r" at line \d+ column \d+$").unwrap());
static MISSING: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^missing field `([^`]+)`").unwrap());

/// Parses JSON into `T`; data errors name the dotted field and never echo the value sent.
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    parse(bytes, None).map(|(v, _)| v)
}

/// Parses JSON into `T` and, given its fields, lists the keys no field took (client text: only
/// ever matched against the real fields, see `unknown_fields.rs`).
fn parse<T: DeserializeOwned>(
    bytes: &[u8],
    note: Option<&'static [&'static str]>,
) -> Result<(T, Vec<String>), ApiError> {
    // Structs also deserialise from arrays in serde; a body is only ever an object.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        return Err(ApiError::InvalidField {
            field: "body".into(),
            message: "body must be a JSON object".into(),
        });
    }
    // The common case, a valid body, skips the path tracking, which costs as much as the parse itself;
    // a failure is parsed again with it to name the field.
    if first == Some(&b'{') {
        if let Ok(v) = serde_json::from_slice::<T>(bytes) {
            // A noted body's structs deny unknown keys: this parse also proved there were none.
            return Ok((v, Vec::new()));
        }
    }
    if let (Some(fields), Some(b'{')) = (note, first) {
        // Unknown keys (or an error): parse again into a value, drop what no field takes, read that.
        let mut value = crate::http::edge::unknown_fields::parse_unique(bytes).map_err(|e| {
            if e.is_data() && POSITION.replace(&e.to_string(), "") == crate::http::edge::unknown_fields::TWICE {
                ApiError::InvalidField {
                    field: "body".into(),
                    message: "body has a key twice in one object".into(),
                }
            } else {
                invalid(".".into(), e)
            }
        })?;
        let ignored = crate::http::edge::unknown_fields::prune(&mut value, fields);
        return match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Ok((v, ignored)),
            Err(e) => Err(invalid(field_path(e.path()), e.into_inner())),
        };
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let err = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => {
            return de.end().map(|()| (v, Vec::new())).map_err(|e| ApiError::MalformedJson {
                message: format!("trailing characters at line {} column {}", e.line(), e.column()),
            })
        }
        Err(e) => e,
    };
    Err(invalid(field_path(err.path()), err.into_inner()))
}

/// The error for a body that did not parse: where the JSON broke, or which field (the dotted
/// `path`, `.` for the body itself) was missing or of the wrong type, never the value sent.
fn invalid(path: String, inner: serde_json::Error) -> ApiError {
    let raw = inner.to_string();
    let message = POSITION.replace(&raw, "").into_owned();
    if !inner.is_data() {
        let position = format!("line {} column {}", inner.line(), inner.column());
        let what = if inner.is_eof() {
            "unexpected end of input"
        } else {
            "syntax error"
        };
        return ApiError::MalformedJson {
            message: format!("{what} at {position}"),
        };
    }
    if let Some(m) = MISSING.captures(&message) {
        let field = if path == "." {
            m[1].to_string()
        } else {
            format!("{path}.{}", &m[1])
        };
        return ApiError::InvalidField {
            message: format!("{field} is required"),
            field,
        };
    }
    let field = if path == "." { "body".to_string() } else { path };
    // serde's messages quote the offending value ("invalid type: string \"…\""); keep only what was expected.
    let expected = message.rsplit_once(", expected ").map(|(_, e)| human(&field, e));
    let message = match expected {
        Some(e) => format!("{field} has the wrong type or value: expected {e}"),
        None => format!("{field} has the wrong type or value"),
    };
    ApiError::InvalidField { field, message }
}

/// What a field takes, said for a person rather than as serde's Rust type (`i64`, `u32`, `a sequence`).
fn human(field: &str, serde_expected: &str) -> String {
    let by_field = match field {
        "tz_offset_minutes" => Some("an integer between -720 and 840 (minutes east of UTC)"),
        "session.pages_viewed" => Some("a whole number, 0 or more"),
        "consent.gpp_sid" => Some("a list of GPP section ids (whole numbers)"),
        _ => None,
    };
    if let Some(e) = by_field {
        return e.to_string();
    }
    match serde_expected {
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "a list".into(),
        "a boolean" => "true or false".into(),
        e if e.starts_with("struct ") => "an object".into(),
        e => e.to_string(),
    }
}

/// The dotted path of a field, with any map key that is not a plain identifier replaced by `<key>`:
/// a key of a free-form map is client text (it could be an email address), a struct field never is.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        if !matches!(segment, Segment::Seq { .. }) && !out.is_empty() {
            out.push('.');
        }
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } if plain_key(key) => out.push_str(key),
            Segment::Enum { variant } if plain_key(variant) => out.push_str(variant),
            Segment::Map { .. } | Segment::Enum { .. } => out.push_str("<key>"),
            Segment::Unknown => out.push('?'),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out
    }
}

fn plain_key(key: &str) -> bool {
    key.len() <= 40
        && key.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        page: Inner,
        n: Option<u32>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        url: String,
    }

    fn field(e: ApiError) -> (String, String) {
        match e {
            ApiError::InvalidField { field, message } => (field, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field_without_echoing() {
        let (f, _) = field(json::<Outer>(br#"{"page":{}}"#).unwrap_err());
        assert_eq!(f, "page.url");
        let (f, _) = field(json::<Outer>(br#"{"x":1}"#).unwrap_err());
        assert_eq!(f, "page");
        let (f, m) = field(json::<Outer>(br#"{"page":{"url":"u"},"n":"jane@example.com"}"#).unwrap_err());
        assert_eq!(f, "n");
        assert!(!m.contains("jane"), "{m}");
        let (f, _) = field(json::<Outer>(br#"{"page":{"url":5}}"#).unwrap_err());
        assert_eq!(f, "page.url");
        let (f, m) = field(json::<std::collections::HashMap<String, u8>>(br#"{"jane@example.com":"x"}"#).unwrap_err());
        assert_eq!(f, "<key>");
        assert!(!m.contains("jane"), "{m}");
        assert!(matches!(
            json::<Outer>(b"{\"page\":").unwrap_err(),
            ApiError::MalformedJson { .. }
        ));
        assert!(matches!(
            json::<Outer>(b"nope").unwrap_err(),
            ApiError::MalformedJson { .. }
        ));
        assert!(matches!(
            json::<Outer>(br#"{"page":{"url":"u"}} trailing"#).unwrap_err(),
            ApiError::MalformedJson { .. }
        ));
    }

    #[test]
    fn json_and_plain_text_are_accepted_in_any_case_and_nothing_else() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.api+json",
            "APPLICATION/LD+JSON",
            "application/+json",
            "text/plain;charset=UTF-8",
            " TEXT/PLAIN ",
        ] {
            assert!(accepted_type(ok), "{ok}");
        }
        for refused in [
            "application/xml",
            "text/html",
            "+json",
            "application/json5",
            "application/",
            "",
            "json",
        ] {
            assert!(!accepted_type(refused), "{refused}");
        }
    }
}
