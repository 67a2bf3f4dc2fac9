//! The IAB taxonomies shipped in `taxonomies/` (IAB Tech Lab, CC BY 3.0): id → name, for
//! the rules loader (`check` and startup alike).

use std::collections::HashMap;
use std::path::Path;

/// Ids and names of one taxonomy.
#[derive(Debug, Default)]
pub struct Taxonomy {
    names: HashMap<String, String>,
}

impl Taxonomy {
    /// Reads a tab-separated taxonomy file: the first column that looks like an id, then the name.
    /// Audience 1.1 has an empty first column; Content 3.1 starts with the id.
    pub fn load(path: &Path, id_col: usize, name_col: usize) -> std::io::Result<Taxonomy> {
        let text = std::fs::read_to_string(path)?;
        let mut names = HashMap::new();
        for line in text.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            let (Some(id), Some(name)) = (cols.get(id_col), cols.get(name_col)) else {
                continue;
            };
            let id = id.trim();
            if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) && !id.eq_ignore_ascii_case("unique") {
                names.insert(id.to_string(), name.trim().trim_end_matches('|').trim().to_string());
            }
        }
        Ok(Taxonomy { names })
    }

    /// The audience taxonomy (segtax 4).
    pub fn audience(dir: &Path) -> std::io::Result<Taxonomy> {
        Taxonomy::load(&dir.join("audience-taxonomy-1.1.tsv"), 1, 3)
    }

    /// The content taxonomy (segtax 7).
    pub fn content(dir: &Path) -> std::io::Result<Taxonomy> {
        Taxonomy::load(&dir.join("content-taxonomy-3.1.tsv"), 0, 2)
    }

    /// The name of an id.
    pub fn name(&self, id: &str) -> Option<&str> {
        self.names.get(id).map(String::as_str)
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}
