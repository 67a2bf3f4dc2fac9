//! The rule set's version: `sha256:` of a canonical JSON form of every file, so comments and
//! layout do not change it but any content does.
//!
//! The canonical form is written straight from the parsed TOML, never built as a JSON tree: for
//! 100,000 segments that tree was millions of small allocations made only to be hashed and freed.

use std::collections::BTreeMap;
use std::io::Write;

use sha2::{Digest, Sha256};
use toml::de::{DeTable, DeValue};

use super::read::as_i64;

/// One file's parsed table as canonical JSON: object keys sorted, no whitespace, integers as JSON
/// numbers, floats as JSON numbers (`null` when not finite), datetimes as strings.
pub(super) fn canonical(doc: &DeTable<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    table(doc, &mut out);
    out
}

/// `sha256:…` of the files' canonical forms ([`canonical`]), as one JSON object keyed by file name.
pub(super) fn version(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut hasher = Sha256::new();
    let mut key = Vec::new();
    hasher.update(b"{");
    for (i, (name, text)) in files.iter().enumerate() {
        if i > 0 {
            hasher.update(b",");
        }
        key.clear();
        string(name, &mut key);
        hasher.update(&key);
        hasher.update(b":");
        hasher.update(text);
    }
    hasher.update(b"}");
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Each file's name and the SHA-256 of its bytes, so an operator can tell which copy a node runs.
pub(super) fn files(sources: &[(String, String)]) -> Vec<super::super::RuleFile> {
    sources
        .iter()
        .map(|(name, text)| super::super::RuleFile {
            name: name.clone(),
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
        })
        .collect()
}

fn table(t: &DeTable<'_>, out: &mut Vec<u8>) {
    let mut entries: Vec<(&str, &DeValue<'_>)> = t.iter().map(|(k, v)| (k.get_ref().as_ref(), v.get_ref())).collect();
    entries.sort_unstable_by_key(|(k, _)| *k);
    out.push(b'{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(k, out);
        out.push(b':');
        value(v, out);
    }
    out.push(b'}');
}

fn value(v: &DeValue<'_>, out: &mut Vec<u8>) {
    match v {
        DeValue::String(s) => string(s, out),
        DeValue::Integer(_) => match as_i64(v) {
            Some(i) => drop(write!(out, "{i}")),
            None => out.extend_from_slice(b"null"),
        },
        DeValue::Float(f) => {
            let number = f
                .as_str()
                .replace('_', "")
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64);
            match number {
                // Writing into a Vec cannot fail.
                Some(n) => drop(serde_json::to_writer(&mut *out, &n)),
                None => out.extend_from_slice(b"null"),
            }
        }
        DeValue::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        DeValue::Datetime(d) => string(&d.to_string(), out),
        DeValue::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(item.get_ref(), out);
            }
            out.push(b']');
        }
        DeValue::Table(t) => table(t, out),
    }
}

/// A JSON string, escaped exactly as `serde_json` escapes one.
fn string(s: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    drop(serde_json::to_writer(out, s));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The form hashed before it was streamed: the file as a `serde_json::Value`, printed with
    /// keys sorted. Versions must not change with how they are computed.
    fn as_value(v: &DeValue<'_>) -> serde_json::Value {
        use serde_json::Value as J;
        match v {
            DeValue::String(s) => J::from(s.as_ref()),
            DeValue::Integer(_) => as_i64(v).map_or(J::Null, J::from),
            DeValue::Float(f) => f
                .as_str()
                .replace('_', "")
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or(J::Null, J::Number),
            DeValue::Boolean(b) => J::from(*b),
            DeValue::Datetime(d) => J::from(d.to_string()),
            DeValue::Array(a) => J::Array(a.iter().map(|i| as_value(i.get_ref())).collect()),
            DeValue::Table(t) => J::Object(
                t.iter()
                    .map(|(k, v)| (k.get_ref().to_string(), as_value(v.get_ref())))
                    .collect(),
            ),
        }
    }

    fn sorted(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::from(k.as_str()).to_string());
                    out.push(':');
                    sorted(&map[k], out);
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    sorted(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    #[test]
    fn the_streamed_form_is_the_form_hashed_before() {
        let text = r#"
zeta = 1
alpha = { "quoted \"key\"" = "tab\there, é and \u0001", nested = [1, 2.5, -0.0, 1e300, inf, nan, true] }
when = 1979-05-27T07:32:00Z
big = 0x7fff_ffff_ffff_ffff
[[segment]]
id = "b"
name = """multi
line"""
[[segment]]
id = "a"
"#;
        let doc = DeTable::parse(text).expect("valid TOML");
        let mut expected = String::new();
        sorted(&as_value(&DeValue::Table(doc.get_ref().clone())), &mut expected);
        assert_eq!(String::from_utf8(canonical(doc.get_ref())).expect("UTF-8"), expected);

        let files: BTreeMap<String, Vec<u8>> = [("b.toml", "{}"), ("a \"x\".toml", "[1]")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        let whole = r#"{"a \"x\".toml":[1],"b.toml":{}}"#;
        assert_eq!(
            version(&files),
            format!("sha256:{}", hex::encode(Sha256::digest(whole.as_bytes())))
        );
    }
}
