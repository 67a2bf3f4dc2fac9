//! Typed diagnostics: what is wrong (a kind), where (a span), and what was probably meant.

use std::fmt;
use std::ops::Range;

use serde::Serialize;

/// What kind of problem a diagnostic reports; stable, for editors and CI (`check --format json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A file or directory could not be read.
    Io,
    /// The rules directory holds no `*.toml` file.
    NoRuleFiles,
    /// The TOML itself does not parse.
    Syntax,
    /// A top-level section other than `[[segment]]`, `[[slot]]`, `[[rule]]` or `[[goal]]`.
    UnknownSection,
    /// A key the table does not take.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong TOML type or shape.
    WrongType,
    /// An id that breaks the id pattern.
    BadId,
    /// A signal name not in the catalogue.
    UnknownSignal,
    /// An operator name that does not exist.
    UnknownOp,
    /// An operator that exists but does not apply to the signal's type.
    OpNotApplicable,
    /// A value the signal can never take, a bad regex or inverted bounds.
    InvalidValue,
    /// Content addressing a person (`[FIRST_NAME]`).
    IdentityPlaceholder,
    /// Content a sensitive segment receives that celebrates or sells.
    Tone,
    /// An id defined twice.
    Duplicate,
    /// A reference to a segment, slot or variant that does not exist.
    UnknownReference,
    /// Experiment arm weights that do not sum to 100.
    Weights,
    /// An IAB taxonomy id missing from the shipped taxonomy files.
    UnknownTaxonomyId,
    /// A condition that can never hold (a warning).
    NeverMatches,
}

/// Whether a diagnostic stops the rule set from loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The rule set is rejected.
    Error,
    /// Reported, but the rule set loads.
    Warning,
}

/// Where a problem is, inside its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// Byte range in the file's text.
    pub bytes: Range<usize>,
}

/// One problem in the rules, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// What is wrong, as a stable kind.
    pub kind: ErrorKind,
    /// Error or warning.
    pub severity: Severity,
    /// File path as given to the loader.
    pub file: String,
    /// Where in the file, when the problem has a place.
    pub span: Option<Span>,
    /// What is wrong, for a person.
    pub message: String,
    /// The closest known name, when the mistake looks like a typo of one.
    pub suggestion: Option<String>,
}

impl RuleError {
    /// An error without a place in a file (unreadable directory or file).
    pub fn unplaced(kind: ErrorKind, file: impl Into<String>, message: impl Into<String>) -> RuleError {
        RuleError {
            kind,
            severity: Severity::Error,
            file: file.into(),
            span: None,
            message: message.into(),
            suggestion: None,
        }
    }

    /// The message with its suggestion, without the location.
    pub fn text(&self) -> String {
        match &self.suggestion {
            Some(s) => format!("{}; did you mean `{s}`?", self.message),
            None => self.message.clone(),
        }
    }

    /// The location as `file:line:col` (or just `file`).
    pub fn location(&self) -> String {
        match &self.span {
            Some(s) => format!("{}:{}:{}", self.file, s.line, s.col),
            None => self.file.clone(),
        }
    }

    /// A code frame with a caret under the mistake, for a terminal; `source` is the file's text.
    /// Without a place in the file, the plain `file: message` line.
    pub fn render_frame(&self, source: &str, styled: bool) -> String {
        use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
        let Some(span) = self.span.as_ref().filter(|s| s.bytes.end <= source.len()) else {
            return self.to_string();
        };
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let mut bytes = span.bytes.clone();
        if bytes.is_empty() {
            bytes.end += source[bytes.end..].chars().next().map_or(0, char::len_utf8);
        }
        let mut report = vec![level.primary_title(self.message.as_str()).element(
            Snippet::source(source)
                .path(self.file.as_str())
                .annotation(AnnotationKind::Primary.span(bytes)),
        )];
        if let Some(s) = &self.suggestion {
            report.push(Group::with_title(
                Level::HELP.secondary_title(format!("did you mean `{s}`?")),
            ));
        }
        let renderer = if styled { Renderer::styled() } else { Renderer::plain() };
        renderer.render(&report)
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let warning = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(f, "{}: {warning}{}", self.location(), self.text())
    }
}

/// The JSON form of a diagnostic for `check --format json`.
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic<'a> {
    /// File path.
    pub file: &'a str,
    /// 1-based line, when placed.
    pub line: Option<usize>,
    /// 1-based column, when placed.
    pub col: Option<usize>,
    /// Error or warning.
    pub severity: Severity,
    /// Stable kind.
    pub kind: ErrorKind,
    /// What is wrong.
    pub message: &'a str,
    /// The closest known name, if any.
    pub suggestion: Option<&'a str>,
}

impl<'a> From<&'a RuleError> for JsonDiagnostic<'a> {
    fn from(e: &'a RuleError) -> Self {
        JsonDiagnostic {
            file: &e.file,
            line: e.span.as_ref().map(|s| s.line),
            col: e.span.as_ref().map(|s| s.col),
            severity: e.severity,
            kind: e.kind,
            message: &e.message,
            suggestion: e.suggestion.as_deref(),
        }
    }
}

/// Every problem found while loading a rules directory (errors, then any warnings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<RuleError>);

impl LoadErrors {
    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &RuleError> {
        self.0.iter().filter(|e| e.severity == Severity::Error)
    }
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// The known name closest to `wrong`, if it is close enough to be a typo of it.
pub fn closest<'a>(wrong: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let limit = (wrong.chars().count() / 3).clamp(1, 3);
    known
        .into_iter()
        .map(|k| (strsim::damerau_levenshtein(wrong, k), k))
        .filter(|&(d, _)| d > 0 && d <= limit)
        .min_by_key(|&(d, k)| (d, k))
        .map(|(_, k)| k.to_string())
}
