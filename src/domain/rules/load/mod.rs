//! Loading `segment_rules/*.toml`, as a pipeline: [`read`] the files, parse each with spans into
//! typed [`sections`] (conditions in [`condition`], content in [`content`]), [`link`] the references
//! between them, and hash a canonical form into the [`version`]. Every problem is a typed
//! [`RuleError`] with a kind, a `file:line:col` span and, for a likely typo, a suggestion.

mod condition;
mod content;
pub mod diagnostic;
mod lines;
mod link;
mod plan;
mod read;
mod sections;
mod taxonomy;
mod values;
mod version;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

pub use content::ToneLists;
pub use diagnostic::{ErrorKind, JsonDiagnostic, LoadErrors, RuleError, Severity, Span};

use super::RuleSet;
use read::FileCtx;
use sections::Raw;
use taxonomy::Taxonomies;

/// What the loader checks beyond the files themselves.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Directory of the IAB taxonomy files ids are verified against (`rtb.taxonomy_dir`); `None`
    /// checks only their form.
    pub taxonomy_dir: Option<PathBuf>,
    /// Phrases content shown to sensitive segments must not contain (`rules.tone`).
    pub tone: ToneLists,
}

/// A loaded rule set and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The compiled rules.
    pub rules: RuleSet,
    /// Problems that do not stop loading (conditions that can never match).
    pub warnings: Vec<RuleError>,
}

/// Loads every `*.toml` in `dir` (sorted by name) with the default options.
pub fn load_dir(dir: &Path) -> Result<RuleSet, LoadErrors> {
    load_dir_with(dir, &LoadOptions::default()).map(|l| l.rules)
}

/// Loads every `*.toml` in `dir` (sorted by name).
pub fn load_dir_with(dir: &Path, options: &LoadOptions) -> Result<Loaded, LoadErrors> {
    load_sources_with(&read_sources(dir)?, options)
}

/// Every `*.toml` in `dir`, sorted by name, as `(path, text)`: what a reload compiles and what the
/// last good set keeps.
pub fn read_sources(dir: &Path) -> Result<Vec<(String, String)>, LoadErrors> {
    read::read_dir(dir).map_err(LoadErrors)
}

/// Loads rules from `(file name, TOML text)` pairs with the default options.
pub fn load_sources(sources: &[(String, String)]) -> Result<RuleSet, LoadErrors> {
    load_sources_with(sources, &LoadOptions::default()).map(|l| l.rules)
}

/// Loads rules from `(file name, TOML text)` pairs; the names only label errors and the version.
pub fn load_sources_with(sources: &[(String, String)], options: &LoadOptions) -> Result<Loaded, LoadErrors> {
    let mut diagnostics = Vec::new();
    // Unreadable taxonomy files are one more error; the rules are still checked for the rest.
    let taxonomies = match options.taxonomy_dir.as_deref().map(Taxonomies::read).transpose() {
        Ok(t) => t,
        Err(e) => {
            diagnostics.push(e);
            None
        }
    };
    let mut raw = Raw::default();
    let mut canonical = BTreeMap::new();
    for (name, text) in sources {
        let mut file = FileCtx {
            name: name.as_str().into(),
            lines: lines::LineIndex::new(text),
            diagnostics: &mut diagnostics,
        };
        let (doc, syntax) = DeTable::parse_recoverable(text);
        if !syntax.is_empty() {
            for e in syntax {
                let span = e.span().unwrap_or(0..0);
                file.err(span, ErrorKind::Syntax, e.message().trim().to_string());
            }
            continue;
        }
        canonical.insert(name.clone(), version::canonical(doc.get_ref()));
        file.document(doc.get_ref(), &mut raw, taxonomies.as_ref());
    }
    let (mut errors, warnings): (Vec<RuleError>, Vec<RuleError>) =
        diagnostics.into_iter().partition(|d| d.severity == Severity::Error);
    let linked = raw.link(&options.tone, &mut errors);
    match linked {
        Some(linked) if errors.is_empty() => Ok(Loaded {
            rules: RuleSet::new(
                version::version(&canonical),
                linked.segments,
                linked.slots,
                linked.goals,
                version::files(sources),
            ),
            warnings,
        }),
        _ => {
            // In file order, then by place, whichever phase found them.
            let rank: std::collections::HashMap<&str, usize> = sources
                .iter()
                .enumerate()
                .map(|(i, (name, _))| (name.as_str(), i))
                .collect();
            errors.sort_by_key(|e| {
                (
                    rank.get(e.file.as_str()).copied(),
                    e.span.as_ref().map(|s| s.bytes.start),
                )
            });
            errors.extend(warnings);
            Err(LoadErrors(errors))
        }
    }
}
