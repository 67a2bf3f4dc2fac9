//! Taxonomy ids checked against the IAB files, at load, so `serve` refuses what `check` refuses.

use std::path::Path;

use super::diagnostic::{ErrorKind, RuleError};
use crate::rtb::taxonomy::Taxonomy;

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
