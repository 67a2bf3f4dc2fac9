//! The rule set's version: `sha256:` of a canonical JSON form of every file, so comments and
//! layout do not change it but any content does.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// `sha256:…` of the files' canonical forms, keyed by file name.
pub(super) fn version(files: BTreeMap<String, serde_json::Value>) -> String {
    let mut text = String::new();
    canonical_json(&serde_json::Value::Object(files.into_iter().collect()), &mut text);
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
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

/// JSON with object keys sorted and no whitespace.
fn canonical_json(v: &serde_json::Value, out: &mut String) {
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
                canonical_json(&map[k], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}
