//! Request keys that no field took, turned into warnings. A JSON key is request data too, so a
//! warning never repeats one: it names the real field when the key is a known alias or a near miss
//! of one (edit distance ≤ 2, as for rule ids), and otherwise only says how many keys were ignored.

use std::fmt;

use actix_web::{HttpMessage, HttpRequest};
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::domain::signals::Warning;

/// Most ignored keys kept per request: enough to name a few near misses, never a cost to a body
/// stuffed with keys.
pub const MAX_KEPT: usize = 32;

/// The keys `ApiJson` found no field for, as dotted paths (client text: never echoed).
pub struct IgnoredKeys(pub Vec<String>);

/// Names other APIs and older SDKs use for a real field.
const ALIASES: &[(&str, &str)] = &[
    ("referer", "page.referrer"),
    ("referrer", "page.referrer"),
    ("page.referer", "page.referrer"),
    ("url", "page.url"),
    ("visitorId", "visitor_id"),
    ("visitorID", "visitor_id"),
    ("tzOffsetMinutes", "tz_offset_minutes"),
    ("tzOffset", "tz_offset_minutes"),
    ("timezoneOffset", "tz_offset_minutes"),
    ("session.pagesViewed", "session.pages_viewed"),
    ("consent.usPrivacy", "consent.us_privacy"),
    ("consent.gppSid", "consent.gpp_sid"),
];

/// The fields a page view and a conversion share.
macro_rules! view_fields {
    ($($more:literal),*) => {
        &[
            "site", "page", "page.url", "page.referrer", "page.category", "session",
            "session.pages_viewed", "session.categories", "session.returning", "visitor_id", "consent",
            "consent.tcf", "consent.gpp", "consent.gpp_sid", "consent.us_privacy", "consent.gpc",
            "consent.google_consent_mode", "consent.google_consent_mode.ad_storage",
            "consent.google_consent_mode.ad_user_data", "consent.google_consent_mode.ad_personalization",
            "consent.google_consent_mode.analytics_storage",
            "consent.google_consent_mode.personalization_storage",
            "consent.google_consent_mode.functionality_storage",
            "consent.google_consent_mode.security_storage", "consent.withdrawn", "consent.after",
            "tz_offset_minutes", "preview", $($more),*
        ]
    };
}

/// `POST /v1/decide`'s fields (`DecideBody`).
pub const DECIDE_FIELDS: &[&str] = view_fields!("slots");

/// `POST /v1/events`' fields (`EventBody`).
pub const EVENT_FIELDS: &[&str] = view_fields!("type", "goal", "experiment", "variant");

/// A body whose unknown keys become warnings: its fields as dotted paths.
///
/// Every struct of such a body is `#[serde(deny_unknown_fields)]`: the one parse of a page view
/// then also proves that no key was ignored, and only a body that fails it is parsed again, into a
/// [`Value`], pruned of the keys not in `FIELDS` ([`prune`]) and read from that (`body.rs`). A
/// second pass over every body just to look for unknown keys cost about half a parse.
pub trait Noted {
    /// Every field, nested ones as `parent.child`.
    const FIELDS: &'static [&'static str];
}

/// Removes every key of `body` that is not one of `known` (dotted paths), at any depth a known
/// field holds an object; returns the paths removed, at most [`MAX_KEPT`] (client text: only ever
/// matched against the real fields, never echoed).
pub fn prune(body: &mut Value, known: &'static [&'static str]) -> Vec<String> {
    let mut removed = Vec::new();
    if let Value::Object(map) = body {
        prune_at(map, "", known, &mut removed);
    }
    removed
}

fn prune_at(map: &mut Map<String, Value>, parent: &str, known: &'static [&'static str], removed: &mut Vec<String>) {
    map.retain(|key, value| {
        let path = if parent.is_empty() {
            key.clone()
        } else {
            format!("{parent}.{key}")
        };
        if !known.contains(&path.as_str()) {
            if removed.len() < MAX_KEPT {
                removed.push(path);
            }
            return false;
        }
        if let Value::Object(inner) = value {
            if has_children(known, &path) {
                prune_at(inner, &path, known, removed);
            }
        }
        true
    });
}

/// Whether the field at `path` holds an object with fields of its own.
fn has_children(known: &[&str], path: &str) -> bool {
    known
        .iter()
        .any(|k| k.strip_prefix(path).is_some_and(|r| r.starts_with('.')))
}

/// Message of the error [`parse_unique`] gives for a key sent twice in one object.
pub const TWICE: &str = "a key appears twice in one object";

/// Parses a body into a [`Value`], refusing a key sent twice in one object (as the derived parse of
/// a struct does): which of the two a reader takes differs between parsers, and the strict parse
/// this one stands in for never chose.
pub fn parse_unique(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Unique.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Builds a [`Value`] like serde_json's own, keys checked for repeats.
#[derive(Clone, Copy)]
struct Unique;

impl<'de> DeserializeSeed<'de> for Unique {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            if out.insert(key, value).is_some() {
                return Err(A::Error::custom(TWICE));
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    // JSON has no NaN or infinity, so every number it holds converts.
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// The real field `key` most likely meant, if any: an alias, or the nearest field of the same
/// object within edit distance 2 (case and `camelCase` ignored).
fn suggestion(key: &str, known: &[&'static str]) -> Option<&'static str> {
    if let Some((_, real)) = ALIASES.iter().find(|(alias, _)| *alias == key) {
        return Some(real);
    }
    let (parent, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let leaf = snake(leaf);
    known
        .iter()
        .filter_map(|field| {
            let (fp, fl) = field.rsplit_once('.').unwrap_or(("", field));
            let d = strsim::damerau_levenshtein(&leaf, fl);
            (fp == parent && d <= 2).then_some((d, *field))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, field)| field)
}

/// `visitorId` → `visitor_id`; other keys lowercased.
fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for (i, c) in key.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Warnings for the keys of this request's body that no field took, `known` being the route's
/// fields. Nothing when every key was taken.
pub fn warnings(req: &HttpRequest, known: &[&'static str]) -> Vec<Warning> {
    let ext = req.extensions();
    let Some(IgnoredKeys(keys)) = ext.get::<IgnoredKeys>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut unnamed = 0usize;
    for key in keys {
        match suggestion(key, known) {
            Some(real) if !out.iter().any(|w: &Warning| w.field == real) => out.push(Warning {
                code: "unknown_field",
                field: real.to_string(),
                message: format!("a field the API does not know was ignored; did you mean `{real}`?"),
            }),
            Some(_) => {}
            None => unnamed += 1,
        }
    }
    if unnamed > 0 {
        out.push(Warning {
            code: "unknown_field",
            field: "body".into(),
            message: format!(
                "{unnamed} field{} the API does not know {} ignored",
                if unnamed == 1 { "" } else { "s" },
                if unnamed == 1 { "was" } else { "were" }
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(body: &str) -> bool {
        serde_json::from_str::<crate::http::browser::decide::DecideBody>(body).is_ok()
    }

    /// The keys the slow path removes, after which the body always parses.
    fn pruned(body: &str) -> Vec<String> {
        let mut value = parse_unique(body.as_bytes()).unwrap();
        let removed = prune(&mut value, DECIDE_FIELDS);
        serde_json::from_value::<crate::http::browser::decide::DecideBody>(value).unwrap();
        removed
    }

    #[test]
    fn the_strict_parse_fails_exactly_when_a_key_is_pruned() {
        let full = r#"{"site":"s","page":{"url":"https://a.example/","referrer":"r","category":"c"},
            "session":{"pages_viewed":2,"categories":["a"],"returning":true},"visitor_id":"v",
            "slots":["hero"],"consent":{"tcf":"t","gpp":"g","gpp_sid":[2],"us_privacy":"1YNN","gpc":true},
            "tz_offset_minutes":60,"preview":"p"}"#;
        for (body, removed) in [
            (full, &[][..]),
            (r#"{"page":{"url":"u"}}"#, &[]),
            (r#"{"page":{"url":"u"},"session":null,"consent":null}"#, &[]),
            (r#"{"page":{"url":"u","category":null},"slots":[]}"#, &[]),
            (r#"{"page":{"url":"u"},"referer":"r"}"#, &["referer"]),
            (r#"{"page":{"url":"u","referer":"r"}}"#, &["page.referer"]),
            (
                r#"{"page":{"url":"u"},"session":{"pagesViewed":1}}"#,
                &["session.pagesViewed"],
            ),
            (
                r#"{"page":{"url":"u"},"consent":{"gpc":false,"extra":{"deep":[1,{"x":2}]}}}"#,
                &["consent.extra"],
            ),
            (r#"{"page":{"url":"u"},"url":"u"}"#, &["url"]),
            (r#"{"page":{"url":"u"},"refer\u0065r":"r"}"#, &["referer"]),
        ] {
            assert_eq!(strict(body), removed.is_empty(), "{body}");
            assert_eq!(pruned(body), removed, "{body}");
        }
        // Every field listed is one the structs take: the strict parse never calls it unknown.
        for field in DECIDE_FIELDS.iter().filter(|f| !has_children(DECIDE_FIELDS, f)) {
            let mut body = serde_json::json!({"page": {"url": "u"}});
            let (parent, leaf) = field.rsplit_once('.').unwrap_or(("", field));
            let mut object = &mut body;
            for p in parent.split('.').filter(|p| !p.is_empty()) {
                object = object
                    .as_object_mut()
                    .unwrap()
                    .entry(p)
                    .or_insert_with(|| serde_json::json!({}));
            }
            object[leaf] = Value::Null;
            let err = serde_json::from_value::<crate::http::browser::decide::DecideBody>(body).err();
            assert!(
                !err.is_some_and(|e| e.to_string().starts_with("unknown field")),
                "{field}"
            );
        }
    }

    #[test]
    fn a_key_twice_is_refused_and_malformed_json_stays_malformed() {
        let err = parse_unique(br#"{"page":{"url":"u"},"page":{"url":"v"}}"#).unwrap_err();
        assert!(err.to_string().starts_with(TWICE), "{err}");
        assert!(parse_unique(br#"{"page":{"url":"u","url":"v"}}"#).is_err());
        assert!(!strict(r#"{"page":{"url":"u"},"page":{"url":"v"}}"#));
        assert!(parse_unique(b"{\"page\":").unwrap_err().is_eof());
        assert!(parse_unique(b"{} trailing").unwrap_err().is_syntax());
        assert_eq!(
            parse_unique(br#"{"a":[1,-2,3.5,true,null,"s"]}"#).unwrap(),
            serde_json::json!({"a": [1, -2, 3.5, true, null, "s"]})
        );
    }

    #[test]
    fn aliases_and_near_misses_name_the_real_field() {
        let known = DECIDE_FIELDS;
        assert_eq!(suggestion("referer", known), Some("page.referrer"));
        assert_eq!(suggestion("visitorId", known), Some("visitor_id"));
        assert_eq!(suggestion("tzOffsetMinutes", known), Some("tz_offset_minutes"));
        assert_eq!(suggestion("page.refferer", known), Some("page.referrer"));
        assert_eq!(suggestion("visitor_di", known), Some("visitor_id"));
        assert_eq!(suggestion("session.pagesViewed", known), Some("session.pages_viewed"));
        assert_eq!(suggestion("jane@example.com", known), None);
        assert_eq!(
            suggestion("page.site", known),
            None,
            "a field of another object is not a near miss"
        );
    }
}
