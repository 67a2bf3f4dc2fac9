//! Request keys that no field took, turned into warnings. A JSON key is request data too, so a
//! warning never repeats one: it names the real field when the key is a known alias or a near miss
//! of one (edit distance ≤ 2, as for rule ids), and otherwise only says how many keys were ignored.

use actix_web::{HttpMessage, HttpRequest};

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
