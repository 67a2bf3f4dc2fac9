//! Reading: rule files from disk, and the typed accessors every section parser uses on the TOML
//! tree, each reporting a located diagnostic instead of failing.

use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use regex::Regex;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diagnostic::{closest, ErrorKind, RuleError, Severity, Span};
use super::lines::LineIndex;

/// The id pattern shared by segments, slots, variants, experiments and goals.
pub(super) static ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9_\-]{0,63}$").unwrap_or_else(|e| unreachable!("{e}")));

/// A parsed TOML value with its byte span.
pub(super) type Node<'i> = Spanned<DeValue<'i>>;

/// Reads every `*.toml` in `dir`, sorted by name, as `(path, text)`.
pub(super) fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, Vec<RuleError>> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| {
        vec![RuleError::unplaced(
            ErrorKind::Io,
            shown.clone(),
            format!("cannot read rules directory: {e}"),
        )]
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(vec![RuleError::unplaced(
            ErrorKind::NoRuleFiles,
            shown,
            "no *.toml rule files found",
        )]);
    }
    let mut sources = Vec::with_capacity(paths.len());
    let mut errors = Vec::new();
    for p in paths {
        let name = p.display().to_string();
        match std::fs::read_to_string(&p) {
            Ok(text) => sources.push((name, text)),
            Err(e) => errors.push(RuleError::unplaced(ErrorKind::Io, name, format!("cannot read: {e}"))),
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(errors)
    }
}

/// A place in a file, kept past parsing for errors found while linking.
#[derive(Debug, Clone)]
pub(super) struct Loc {
    /// Shared by every place in the file: a large set has millions of places.
    pub file: Arc<str>,
    pub span: Span,
}

impl Loc {
    /// An error at this place.
    pub fn err(&self, kind: ErrorKind, message: impl Into<String>) -> RuleError {
        RuleError {
            kind,
            severity: Severity::Error,
            file: self.file.to_string(),
            span: Some(self.span.clone()),
            message: message.into(),
            suggestion: None,
        }
    }

    /// `file:line:col`, for "first defined at".
    pub fn at(&self) -> String {
        format!("{}:{}:{}", self.file, self.span.line, self.span.col)
    }
}

/// One file being parsed: its name, its text's line index (for spans) and where diagnostics go.
pub(super) struct FileCtx<'a> {
    pub name: Arc<str>,
    pub lines: LineIndex<'a>,
    pub diagnostics: &'a mut Vec<RuleError>,
}

/// "a string", "an integer", … for type errors.
pub(super) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// A TOML integer as `i64`, if it is one and fits.
pub(super) fn as_i64(v: &DeValue<'_>) -> Option<i64> {
    v.as_integer()
        .and_then(|i| i64::from_str_radix(i.as_str(), i.radix()).ok())
}

impl FileCtx<'_> {
    /// The place of a byte range.
    pub fn loc(&self, span: &Range<usize>) -> Loc {
        Loc {
            file: Arc::clone(&self.name),
            span: self.lines.span(span.clone()),
        }
    }

    /// Records an error at a byte range.
    pub fn err(&mut self, span: Range<usize>, kind: ErrorKind, message: impl Into<String>) {
        self.report(span, kind, Severity::Error, message, None);
    }

    /// Records a diagnostic with every field.
    pub fn report(
        &mut self,
        span: Range<usize>,
        kind: ErrorKind,
        severity: Severity,
        message: impl Into<String>,
        suggestion: Option<String>,
    ) {
        let span = self.lines.span(span);
        self.diagnostics.push(RuleError {
            kind,
            severity,
            file: self.name.to_string(),
            span: Some(span),
            message: message.into(),
            suggestion,
        });
    }

    /// Reports keys outside `allowed` (suggesting the closest); returns false if any.
    pub fn known_keys(&mut self, t: &DeTable<'_>, what: &str, allowed: &[&str]) -> bool {
        let mut ok = true;
        for (k, _) in t.iter() {
            let key = k.get_ref().as_ref();
            if !allowed.contains(&key) {
                let suggestion = closest(key, allowed.iter().copied());
                self.report(
                    k.span(),
                    ErrorKind::UnknownKey,
                    Severity::Error,
                    format!("unknown key `{key}` in {what} (allowed: {})", allowed.join(", ")),
                    suggestion,
                );
                ok = false;
            }
        }
        ok
    }

    /// A string value; reports a missing required key or a wrong type.
    pub fn string(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        span: &Range<usize>,
        required: bool,
    ) -> Option<(String, Range<usize>)> {
        match t.get(key) {
            None => {
                if required {
                    self.err(span.clone(), ErrorKind::MissingKey, format!("missing `{key}`"));
                }
                None
            }
            Some(v) => match v.get_ref().as_str() {
                Some(s) => Some((s.to_string(), v.span())),
                None => {
                    self.err(
                        v.span(),
                        ErrorKind::WrongType,
                        format!("`{key}` must be a string, not {}", type_name(v.get_ref())),
                    );
                    None
                }
            },
        }
    }

    /// A required id matching [`ID`].
    pub fn id(&mut self, t: &DeTable<'_>, key: &str, span: &Range<usize>) -> Option<(String, Range<usize>)> {
        let (id, at) = self.string(t, key, span, true)?;
        self.check_id(&id, key, at.clone()).then_some((id, at))
    }

    /// Whether `id` matches [`ID`]; reports it when not.
    pub fn check_id(&mut self, id: &str, what: &str, at: Range<usize>) -> bool {
        let ok = ID.is_match(id);
        if !ok {
            self.err(
                at,
                ErrorKind::BadId,
                format!("`{what}` {id:?} must be 1-64 characters of a-z, 0-9, _ or -, starting with a letter or digit"),
            );
        }
        ok
    }

    /// An optional integer value; reports a wrong type.
    pub fn integer(&mut self, t: &DeTable<'_>, key: &str) -> Option<(i64, Range<usize>)> {
        let v = t.get(key)?;
        match as_i64(v.get_ref()) {
            Some(i) => Some((i, v.span())),
            None => {
                self.err(
                    v.span(),
                    ErrorKind::WrongType,
                    format!("`{key}` must be an integer, not {}", type_name(v.get_ref())),
                );
                None
            }
        }
    }

    /// An optional array of ids (`goals = [...]`), each with its span.
    pub fn id_list(&mut self, t: &DeTable<'_>, key: &str) -> Option<Vec<(String, Range<usize>)>> {
        let Some(v) = t.get(key) else {
            return Some(Vec::new());
        };
        let Some(items) = v.get_ref().as_array() else {
            self.err(
                v.span(),
                ErrorKind::WrongType,
                format!("`{key}` must be an array of ids"),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match item.get_ref().as_str() {
                Some(s) if self.check_id(s, key, item.span()) => out.push((s.to_string(), item.span())),
                Some(_) => ok = false,
                None => {
                    ok = false;
                    self.err(
                        item.span(),
                        ErrorKind::WrongType,
                        format!("`{key}` entries must be strings, not {}", type_name(item.get_ref())),
                    );
                }
            }
        }
        ok.then_some(out)
    }
}
