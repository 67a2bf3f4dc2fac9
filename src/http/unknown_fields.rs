//! Request keys that no field took, turned into warnings. A JSON key is request data too, so a
//! warning never repeats one: it names the real field when the key is a known alias or a near miss
//! of one (edit distance ≤ 2, as for rule ids), and otherwise only says how many keys were ignored.

use std::fmt;

use actix_web::{HttpMessage, HttpRequest};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::signals::Warning;

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
            "tz_offset_minutes", "preview", $($more),*
        ]
    };
}

/// `POST /v1/decide`'s fields (`DecideBody`).
pub const DECIDE_FIELDS: &[&str] = view_fields!("slots");

/// `POST /v1/events`' fields (`EventBody`).
pub const EVENT_FIELDS: &[&str] = view_fields!("type", "goal", "experiment", "variant");

/// A body whose unknown keys become warnings: its fields as dotted paths.
pub trait Noted {
    /// Every field, nested ones as `parent.child`.
    const FIELDS: &'static [&'static str];
}

/// Whether every object key in `body` is one of `known` (dotted paths). One pass that neither
/// allocates nor builds paths: a body without unknown keys, the common case, skips the
/// path-tracking parse (`serde_ignored` allocates a string per key, about 0.3 µs of a page view).
/// Malformed JSON says `false`; the caller's parse reports it.
pub fn all_known(body: &[u8], known: &'static [&'static str]) -> bool {
    let mut de = serde_json::Deserializer::from_slice(body);
    Census { known, parent: "" }.deserialize(&mut de).unwrap_or(false)
}

/// Checks one JSON value: the keys of an object at `parent` must be in `known`.
#[derive(Clone, Copy)]
struct Census {
    known: &'static [&'static str],
    parent: &'static str,
}

impl Census {
    /// The full path of `key` under this object, if it is a field.
    fn field(self, key: &str) -> Option<&'static str> {
        self.known.iter().copied().find(|k| match self.parent {
            "" => *k == key,
            p => k.strip_prefix(p).and_then(|r| r.strip_prefix('.')) == Some(key),
        })
    }

    /// Whether a field holds an object with fields of its own.
    fn has_children(self, path: &str) -> bool {
        self.known
            .iter()
            .any(|k| k.strip_prefix(path).is_some_and(|r| r.starts_with('.')))
    }
}

impl<'de> DeserializeSeed<'de> for Census {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<bool, D::Error> {
        de.deserialize_any(self)
    }
}

/// A key, looked up in place.
struct Key(Census);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<&'static str>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.field(key))
    }
}

impl<'de> Visitor<'de> for Census {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while let Some(field) = map.next_key_seed(Key(self))? {
            let Some(path) = field else { return Ok(false) };
            let inner = Census {
                known: self.known,
                parent: path,
            };
            if self.has_children(path) {
                if !map.next_value_seed(inner)? {
                    return Ok(false);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(true)
    }

    // The lists a body holds are of strings and numbers: nothing in them can be a key.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(true)
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(true)
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
        // An `Option` adds a `?` segment to the path: `session.?.pagesViewed`.
        let key = key.replace(".?", "");
        match suggestion(&key, known) {
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

    /// The keys a tracking parse (the slow path) finds no field for.
    fn ignored(body: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut de = serde_json::Deserializer::from_str(body);
        let parsed: Result<crate::http::decide::DecideBody, _> =
            serde_ignored::deserialize(&mut de, |p| out.push(p.to_string()));
        assert!(parsed.is_ok(), "{body}");
        out
    }

    #[test]
    fn the_census_agrees_with_the_tracking_parse() {
        let full = r#"{"site":"s","page":{"url":"https://a.example/","referrer":"r","category":"c"},
            "session":{"pages_viewed":2,"categories":["a"],"returning":true},"visitor_id":"v",
            "slots":["hero"],"consent":{"tcf":"t","gpp":"g","gpp_sid":[2],"us_privacy":"1YNN","gpc":true},
            "tz_offset_minutes":60,"preview":"p"}"#;
        for body in [
            full,
            r#"{"page":{"url":"u"}}"#,
            r#"{"page":{"url":"u"},"session":null,"consent":null}"#,
            r#"{"page":{"url":"u"},"referer":"r"}"#,
            r#"{"page":{"url":"u","referer":"r"}}"#,
            r#"{"page":{"url":"u"},"session":{"pagesViewed":1}}"#,
            r#"{"page":{"url":"u"},"consent":{"gpc":false,"extra":{"deep":[1,{"x":2}]}}}"#,
            r#"{"page":{"url":"u"},"url":"u"}"#,
            r#"{"page":{"url":"u","category":null},"slots":[]}"#,
            r#"{"page":{"url":"u"},"refer\u0065r":"r"}"#,
        ] {
            assert_eq!(
                all_known(body.as_bytes(), DECIDE_FIELDS),
                ignored(body).is_empty(),
                "{body}"
            );
        }
        assert!(!all_known(b"{\"page\":", DECIDE_FIELDS));
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
