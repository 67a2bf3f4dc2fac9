//! Taxonomy ids checked against the IAB files, at load, so `serve` refuses what `check` refuses.

use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::diagnostic::{ErrorKind, RuleError};
use super::read::{type_name, FileCtx};
use crate::domain::taxonomy::Taxonomy;

/// The audience and content taxonomies ids are checked against.
pub(super) struct Taxonomies {
    audience: Taxonomy,
    content: Taxonomy,
}

impl Taxonomies {
    /// Reads both files from `dir`.
    pub fn read(dir: &Path) -> Result<Taxonomies, RuleError> {
        match (Taxonomy::audience(dir), Taxonomy::content(dir)) {
            (Ok(audience), Ok(content)) => Ok(Taxonomies { audience, content }),
            (Err(e), _) | (_, Err(e)) => Err(RuleError::unplaced(
                ErrorKind::Io,
                dir.display().to_string(),
                format!("cannot read the IAB taxonomy files to verify ids: {e}"),
            )),
        }
    }

    /// Why `id` under `key` of `segment` is not a known id, or `None` when it is.
    pub fn missing(&self, key: &str, id: &str, segment: &str) -> Option<String> {
        let (taxonomy, name) = if key == "audience_taxonomy" {
            (&self.audience, "IAB Audience Taxonomy 1.1")
        } else {
            (&self.content, "IAB Content Taxonomy 3.1")
        };
        taxonomy
            .name(id)
            .is_none()
            .then(|| format!("{key} id {id:?} of segment `{segment}` is not in the {name}"))
    }
}

impl FileCtx<'_> {
    /// Taxonomy ids, checked against the IAB files when they are given.
    pub(super) fn taxonomy_ids(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        segment: Option<&str>,
        taxonomies: Option<&Taxonomies>,
    ) -> Option<Vec<String>> {
        let Some(v) = t.get(key) else { return Some(Vec::new()) };
        let Some(items) = v.get_ref().as_array() else {
            self.err(
                v.span(),
                ErrorKind::WrongType,
                format!("`{key}` must be an array of taxonomy ids"),
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            let id = match item.get_ref() {
                DeValue::String(s) => s.to_string(),
                DeValue::Integer(i) => i.as_str().to_string(),
                other => {
                    self.err(
                        item.span(),
                        ErrorKind::WrongType,
                        format!("`{key}` entries must be ids, not {}", type_name(other)),
                    );
                    continue;
                }
            };
            if !id.bytes().all(|b| b.is_ascii_alphanumeric()) || !(1..=16).contains(&id.len()) {
                self.err(
                    item.span(),
                    ErrorKind::InvalidValue,
                    format!("`{key}` entry {id:?} is not a taxonomy id"),
                );
            } else if let Some(message) = taxonomies.and_then(|tx| tx.missing(key, &id, segment.unwrap_or("?"))) {
                self.err(item.span(), ErrorKind::UnknownTaxonomyId, message);
            } else {
                out.push(id);
            }
        }
        (out.len() == items.len()).then_some(out)
    }
}
