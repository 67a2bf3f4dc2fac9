//! Loading `segment_rules/*.toml`: parse with spans, validate everything, report every error as
//! `file:line: message`, then compile into a [`RuleSet`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::condition::{Condition, IntOp, Op, Test};
use super::{render, Action, Arm, Experiment, RuleSet, Segment, Slot, SlotRule, Variant};
use crate::signals::{SignalId, SignalKind};

/// One problem in the rules, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// File path as given to the loader.
    pub file: String,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Every problem found while loading a rules directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<RuleError>);

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

/// Deepest `all`/`any`/`not` nesting accepted.
const MAX_DEPTH: usize = 16;
/// Categories a segment may declare as `sensitive`: GDPR art. 9 plus vulnerable situations.
pub const SENSITIVE_CATEGORIES: &[&str] = &[
    "racial_or_ethnic_origin",
    "political_opinions",
    "religious_beliefs",
    "trade_union_membership",
    "genetic",
    "biometric",
    "health",
    "sex_life",
    "sexual_orientation",
    "life_event",
    "financial_vulnerability",
    "children",
];

static ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9_\-]{0,63}$").unwrap());
static TAXONOMY_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9]{1,16}$").unwrap());
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\[\s*(first_?|last_?|full_?|sur|given_?)?name\s*\]|\[[A-Z_]*NAME[A-Z_]*\]|\{\{[^}]*\}\}|%[A-Z][A-Z0-9_]*%|\*\|[A-Z0-9_]+\|\*|\{\s*visitor\.[^}]*\}",
    )
    .unwrap()
});

/// Loads every `*.toml` in `dir` (sorted by name).
pub fn load_dir(dir: &Path) -> Result<RuleSet, LoadErrors> {
    let shown = dir.display().to_string();
    let fail = |message: String| {
        LoadErrors(vec![RuleError {
            file: shown.clone(),
            line: None,
            message,
        }])
    };
    let entries = std::fs::read_dir(dir).map_err(|e| fail(format!("cannot read rules directory: {e}")))?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(fail("no *.toml rule files found".into()));
    }
    let mut sources = Vec::with_capacity(paths.len());
    let mut errors = Vec::new();
    for p in paths {
        let name = p.display().to_string();
        match std::fs::read_to_string(&p) {
            Ok(text) => sources.push((name, text)),
            Err(e) => errors.push(RuleError {
                file: name,
                line: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    load_sources(&sources)
}

/// Loads rules from `(file name, TOML text)` pairs; the names only label errors and the version.
pub fn load_sources(sources: &[(String, String)]) -> Result<RuleSet, LoadErrors> {
    let mut errors = Vec::new();
    let mut raw = Raw::default();
    let mut canonical = BTreeMap::new();
    for (name, text) in sources {
        let mut file = FileCtx {
            name,
            lines: line_starts(text),
            errors: &mut errors,
        };
        let (doc, syntax) = DeTable::parse_recoverable(text);
        if !syntax.is_empty() {
            for e in syntax {
                let span = e.span().unwrap_or(0..0);
                file.err(span, e.message().trim().to_string());
            }
            continue;
        }
        canonical.insert(name.clone(), file.json_table(doc.get_ref(), false));
        file.document(doc.get_ref(), &mut raw);
    }
    let compiled = raw.link(&mut errors);
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    let mut text = String::new();
    canonical_json(&serde_json::Value::Object(canonical.into_iter().collect()), &mut text);
    let version = format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())));
    let (segments, slots) = compiled.ok_or_else(|| LoadErrors(Vec::new()))?;
    Ok(RuleSet::new(version, segments, slots))
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// A location for errors found after parsing (cross-references).
#[derive(Debug, Clone)]
struct Loc {
    file: String,
    line: usize,
}

impl Loc {
    fn err(&self, message: impl Into<String>) -> RuleError {
        RuleError {
            file: self.file.clone(),
            line: Some(self.line),
            message: message.into(),
        }
    }
}

#[derive(Default)]
struct Raw {
    /// Ids of segments and slots that had errors: references to them are not reported again.
    broken: HashSet<String>,
    segments: Vec<(Segment, Loc)>,
    slots: Vec<RawSlot>,
    rules: Vec<RawRule>,
}

struct RawSlot {
    id: String,
    loc: Loc,
    description: String,
    default: Option<(String, Loc)>,
    variants: Vec<(String, Loc, Box<RawValue>)>,
}

struct RawRule {
    slot: (String, Loc),
    segment: (String, Loc),
    action: RawAction,
}

enum RawAction {
    Variant(String, Loc),
    Experiment {
        id: String,
        loc: Loc,
        holdout_percent: u32,
        arms: Vec<(String, Loc, u32)>,
        arms_loc: Loc,
    },
}

struct FileCtx<'a> {
    name: &'a str,
    lines: Vec<usize>,
    errors: &'a mut Vec<RuleError>,
}

type Node<'i> = Spanned<DeValue<'i>>;

fn type_name(v: &DeValue<'_>) -> &'static str {
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

impl FileCtx<'_> {
    fn line(&self, offset: usize) -> usize {
        self.lines.partition_point(|&start| start <= offset).max(1)
    }

    fn loc(&self, span: &Range<usize>) -> Loc {
        Loc {
            file: self.name.to_string(),
            line: self.line(span.start),
        }
    }

    fn err(&mut self, span: Range<usize>, message: impl Into<String>) {
        let line = self.line(span.start);
        self.errors.push(RuleError {
            file: self.name.to_string(),
            line: Some(line),
            message: message.into(),
        });
    }

    fn document(&mut self, doc: &DeTable<'_>, raw: &mut Raw) {
        for (key, value) in doc.iter() {
            let Some(items) = self.array_of_tables(key.get_ref(), value) else {
                continue;
            };
            for (table, span) in items {
                match key.get_ref().as_ref() {
                    "segment" => match self.segment(table, &span) {
                        Some(seg) => raw.segments.push((seg, self.loc(&span))),
                        None => raw.broken.extend(
                            table
                                .get("id")
                                .and_then(|v| v.get_ref().as_str())
                                .map(|s| format!("segment:{s}")),
                        ),
                    },
                    "slot" => match self.slot(table, &span) {
                        Some(slot) if slot.default.is_some() && !slot.variants.is_empty() => raw.slots.push(slot),
                        Some(slot) => {
                            raw.broken.insert(format!("slot:{}", slot.id));
                            raw.slots.push(slot);
                        }
                        None => raw.broken.extend(
                            table
                                .get("id")
                                .and_then(|v| v.get_ref().as_str())
                                .map(|s| format!("slot:{s}")),
                        ),
                    },
                    "rule" => {
                        if let Some(rule) = self.rule(table, &span) {
                            raw.rules.push(rule);
                        }
                    }
                    _ => unreachable!("array_of_tables only accepts known sections"),
                }
            }
        }
    }

    fn array_of_tables<'t, 'i>(
        &mut self,
        key: &str,
        value: &'t Node<'i>,
    ) -> Option<Vec<(&'t DeTable<'i>, Range<usize>)>> {
        if !matches!(key, "segment" | "slot" | "rule") {
            self.err(
                value.span(),
                format!("unknown section `{key}` (expected [[segment]], [[slot]] or [[rule]])"),
            );
            return None;
        }
        let Some(items) = value.get_ref().as_array() else {
            self.err(
                value.span(),
                format!("`{key}` must be an array of tables: write [[{key}]]"),
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            match item.get_ref().as_table() {
                Some(t) => out.push((t, item.span())),
                None => self.err(item.span(), format!("each `{key}` must be a table")),
            }
        }
        Some(out)
    }

    /// Reports keys outside `allowed`; returns false if any.
    fn known_keys(&mut self, t: &DeTable<'_>, what: &str, allowed: &[&str]) -> bool {
        let mut ok = true;
        for (k, _) in t.iter() {
            if !allowed.contains(&k.get_ref().as_ref()) {
                self.err(
                    k.span(),
                    format!(
                        "unknown key `{}` in {what} (allowed: {})",
                        k.get_ref(),
                        allowed.join(", ")
                    ),
                );
                ok = false;
            }
        }
        ok
    }

    fn string(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        span: &Range<usize>,
        required: bool,
    ) -> Option<(String, Range<usize>)> {
        match t.get(key) {
            None => {
                if required {
                    self.err(span.clone(), format!("missing `{key}`"));
                }
                None
            }
            Some(v) => match v.get_ref().as_str() {
                Some(s) => Some((s.to_string(), v.span())),
                None => {
                    self.err(
                        v.span(),
                        format!("`{key}` must be a string, not {}", type_name(v.get_ref())),
                    );
                    None
                }
            },
        }
    }

    fn id(&mut self, t: &DeTable<'_>, key: &str, span: &Range<usize>) -> Option<(String, Range<usize>)> {
        let (id, at) = self.string(t, key, span, true)?;
        if !ID.is_match(&id) {
            self.err(
                at,
                format!("`{key}` {id:?} must be 1-64 characters of a-z, 0-9, _ or -, starting with a letter or digit"),
            );
            return None;
        }
        Some((id, at))
    }

    fn integer(&mut self, t: &DeTable<'_>, key: &str) -> Option<(i64, Range<usize>)> {
        let v = t.get(key)?;
        match v
            .get_ref()
            .as_integer()
            .and_then(|i| i64::from_str_radix(i.as_str(), i.radix()).ok())
        {
            Some(i) => Some((i, v.span())),
            None => {
                self.err(
                    v.span(),
                    format!("`{key}` must be an integer, not {}", type_name(v.get_ref())),
                );
                None
            }
        }
    }

    fn taxonomy_ids(&mut self, t: &DeTable<'_>, key: &str) -> Vec<String> {
        let Some(v) = t.get(key) else { return Vec::new() };
        let Some(items) = v.get_ref().as_array() else {
            self.err(v.span(), format!("`{key}` must be an array of taxonomy ids"));
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let id = match item.get_ref() {
                DeValue::String(s) => s.to_string(),
                DeValue::Integer(i) => i.as_str().to_string(),
                other => {
                    self.err(
                        item.span(),
                        format!("`{key}` entries must be ids, not {}", type_name(other)),
                    );
                    continue;
                }
            };
            if TAXONOMY_ID.is_match(&id) {
                out.push(id);
            } else {
                self.err(item.span(), format!("`{key}` entry {id:?} is not a taxonomy id"));
            }
        }
        out
    }

    fn segment(&mut self, t: &DeTable<'_>, span: &Range<usize>) -> Option<Segment> {
        const KEYS: &[&str] = &[
            "id",
            "name",
            "description",
            "priority",
            "sensitive",
            "audience_taxonomy",
            "content_taxonomy",
            "when",
        ];
        let keys_ok = self.known_keys(t, "[[segment]]", KEYS);
        let id = self.id(t, "id", span);
        let name = self.string(t, "name", span, true);
        let description = self
            .string(t, "description", span, false)
            .map(|d| d.0)
            .unwrap_or_default();
        let priority = match t.get("priority") {
            None => Some(0),
            Some(_) => self.integer(t, "priority").map(|p| p.0),
        };
        let sensitive = match self.string(t, "sensitive", span, false) {
            Some((c, at)) if !SENSITIVE_CATEGORIES.contains(&c.as_str()) => {
                self.err(
                    at,
                    format!(
                        "`sensitive` {c:?} is not a known category (one of: {})",
                        SENSITIVE_CATEGORIES.join(", ")
                    ),
                );
                None
            }
            other => Some(other.map(|c| c.0)),
        };
        let audience_taxonomy = self.taxonomy_ids(t, "audience_taxonomy");
        let content_taxonomy = self.taxonomy_ids(t, "content_taxonomy");
        let when = match t.get("when") {
            Some(w) => self.condition(w, 0),
            None => {
                self.err(span.clone(), "missing `when` (a segment needs a condition)");
                None
            }
        };
        let (id, _) = id?;
        let when = when?;
        let mut session_based = false;
        when.for_each_signal(&mut |s| session_based |= s.is_session());
        if !keys_ok {
            return None;
        }
        Some(Segment {
            defined_at: format!("{}:{}", self.name, self.line(span.start)),
            count_key: id.as_str().into(),
            id,
            name: name?.0,
            description,
            priority: priority?,
            sensitive: sensitive?,
            audience_taxonomy,
            content_taxonomy,
            when,
            session_based,
        })
    }

    fn condition(&mut self, node: &Node<'_>, depth: usize) -> Option<Condition> {
        let span = node.span();
        if depth > MAX_DEPTH {
            self.err(span, format!("condition nested deeper than {MAX_DEPTH} levels"));
            return None;
        }
        let Some(t) = node.get_ref().as_table() else {
            self.err(span, format!("a condition must be a table ({{ all = [...] }}, {{ any = [...] }}, {{ not = {{...}} }} or {{ signal, op, value }}), not {}", type_name(node.get_ref())));
            return None;
        };
        let combinators: Vec<&str> = ["all", "any", "not"]
            .into_iter()
            .filter(|k| t.get(*k).is_some())
            .collect();
        if combinators.len() > 1 || (!combinators.is_empty() && t.get("signal").is_some()) {
            self.err(span, "a condition has exactly one of `all`, `any`, `not` or `signal`");
            return None;
        }
        match combinators.first().copied() {
            Some(kind @ ("all" | "any")) => {
                self.known_keys(t, "a condition", &[kind]);
                let list = t.get(kind)?;
                let Some(items) = list.get_ref().as_array() else {
                    self.err(list.span(), format!("`{kind}` must be an array of conditions"));
                    return None;
                };
                let children: Vec<Option<Condition>> = items.iter().map(|c| self.condition(c, depth + 1)).collect();
                let children: Option<Vec<Condition>> = children.into_iter().collect();
                let children = children?;
                if kind == "any" && children.is_empty() {
                    self.err(list.span(), "`any` with no conditions never matches");
                    return None;
                }
                Some(if kind == "all" {
                    Condition::All(children)
                } else {
                    Condition::Any(children)
                })
            }
            Some(_) => {
                self.known_keys(t, "a condition", &["not"]);
                let inner = self.condition(t.get("not")?, depth + 1)?;
                Some(Condition::Not(Box::new(inner)))
            }
            None => self.test(t, &span).map(Condition::Test),
        }
    }

    fn test(&mut self, t: &DeTable<'_>, span: &Range<usize>) -> Option<Test> {
        if !self.known_keys(t, "a condition", &["signal", "op", "value"]) {
            return None;
        }
        let (name, name_at) = self.string(t, "signal", span, true)?;
        let (op_name, op_at) = self.string(t, "op", span, true)?;
        let Some(signal) = SignalId::from_name(&name) else {
            self.err(
                name_at,
                format!("unknown signal {name:?} (known: {})", SignalId::names()),
            );
            return None;
        };
        let value = t.get("value");
        let value_span = value.map_or_else(|| span.clone(), Spanned::span);
        let v = value.map(|v| v.get_ref());
        let op = self.op(signal, &op_name, &op_at, v, value_span)?;
        Some(Test { signal, op })
    }

    fn op(
        &mut self,
        signal: SignalId,
        op: &str,
        op_at: &Range<usize>,
        v: Option<&DeValue<'_>>,
        at: Range<usize>,
    ) -> Option<Op> {
        const OPS: &[&str] = &[
            "eq",
            "ne",
            "in",
            "not_in",
            "starts_with",
            "ends_with",
            "contains",
            "matches",
            "gt",
            "gte",
            "lt",
            "lte",
            "between",
            "exists",
        ];
        if !OPS.contains(&op) {
            self.err(op_at.clone(), format!("unknown op {op:?} (known: {})", OPS.join(", ")));
            return None;
        }
        let kind = signal.kind();
        let sig = signal.name();
        if op == "exists" {
            return match v {
                None => Some(Op::Exists(true)),
                Some(DeValue::Boolean(b)) => Some(Op::Exists(*b)),
                Some(other) => {
                    self.err(at, format!("`exists` takes true or false, not {}", type_name(other)));
                    None
                }
            };
        }
        let Some(v) = v else {
            self.err(at, format!("missing `value` for op {op:?}"));
            return None;
        };
        let allowed: &[&str] = match kind {
            SignalKind::Text => &[
                "eq",
                "ne",
                "in",
                "not_in",
                "starts_with",
                "ends_with",
                "contains",
                "matches",
            ],
            SignalKind::Enum(_) => &["eq", "ne", "in", "not_in"],
            SignalKind::Int { .. } => &["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between"],
            SignalKind::Bool => &["eq", "ne"],
            SignalKind::TextList => &["contains", "in", "not_in"],
        };
        if !allowed.contains(&op) {
            self.err(
                op_at.clone(),
                format!(
                    "op {op:?} does not apply to {sig} (use one of: {}, exists)",
                    allowed.join(", ")
                ),
            );
            return None;
        }
        match kind {
            SignalKind::Text | SignalKind::Enum(_) | SignalKind::TextList => {
                let norm = |s: &str| normalise(signal, s);
                let one = |this: &mut Self| -> Option<String> {
                    match v {
                        DeValue::String(s) => {
                            let s = norm(s);
                            this.check_enum(signal, &s, &at).then_some(s)
                        }
                        other => {
                            this.err(
                                at.clone(),
                                format!("op {op:?} on {sig} needs a string value, not {}", type_name(other)),
                            );
                            None
                        }
                    }
                };
                let many = |this: &mut Self| -> Option<Vec<String>> {
                    let Some(items) = v.as_array().filter(|a| !a.is_empty()) else {
                        this.err(
                            at.clone(),
                            format!("op {op:?} on {sig} needs a non-empty array of strings"),
                        );
                        return None;
                    };
                    let mut out = Vec::new();
                    for item in items {
                        match item.get_ref().as_str() {
                            Some(s) => {
                                let s = norm(s);
                                if this.check_enum(signal, &s, &item.span()) {
                                    out.push(s);
                                }
                            }
                            None => this.err(
                                item.span(),
                                format!("op {op:?} on {sig} needs strings, not {}", type_name(item.get_ref())),
                            ),
                        }
                    }
                    (out.len() == items.len()).then_some(out)
                };
                let list = matches!(kind, SignalKind::TextList);
                Some(match op {
                    "eq" => Op::TextEq(one(self)?),
                    "ne" => Op::TextNe(one(self)?),
                    "in" if list => Op::ListAnyIn(many(self)?),
                    "not_in" if list => Op::ListNoneIn(many(self)?),
                    "in" => Op::TextIn(many(self)?),
                    "not_in" => Op::TextNotIn(many(self)?),
                    "starts_with" => Op::StartsWith(one(self)?),
                    "ends_with" => Op::EndsWith(one(self)?),
                    "contains" => Op::Contains(one(self)?),
                    _ => {
                        let pattern = one(self)?;
                        match regex::RegexBuilder::new(&pattern).size_limit(1 << 20).build() {
                            Ok(re) => Op::Matches(re),
                            Err(e) => {
                                let msg = e.to_string();
                                let last = msg.lines().last().unwrap_or("invalid").trim();
                                self.err(at, format!("bad regex for {sig}: {last}"));
                                return None;
                            }
                        }
                    }
                })
            }
            SignalKind::Int { min, max } => {
                let int = |this: &mut Self, v: &DeValue<'_>, at: Range<usize>| -> Option<i64> {
                    match v
                        .as_integer()
                        .and_then(|i| i64::from_str_radix(i.as_str(), i.radix()).ok())
                    {
                        Some(i) if (min..=max).contains(&i) => Some(i),
                        Some(i) => {
                            this.err(at, format!("{sig} is between {min} and {max}; {i} can never match"));
                            None
                        }
                        None => {
                            this.err(at, format!("op {op:?} on {sig} needs an integer, not {}", type_name(v)));
                            None
                        }
                    }
                };
                let ints = |this: &mut Self, exact: Option<usize>| -> Option<Vec<i64>> {
                    let items = v
                        .as_array()
                        .filter(|a| !a.is_empty() && exact.is_none_or(|n| a.len() == n));
                    let Some(items) = items else {
                        let what = exact.map_or("a non-empty array of integers".to_string(), |n| {
                            format!("an array of {n} integers")
                        });
                        this.err(at.clone(), format!("op {op:?} on {sig} needs {what}"));
                        return None;
                    };
                    let out: Vec<Option<i64>> = items.iter().map(|i| int(this, i.get_ref(), i.span())).collect();
                    out.into_iter().collect()
                };
                Some(match op {
                    "in" => Op::IntIn(ints(self, None)?),
                    "not_in" => Op::IntNotIn(ints(self, None)?),
                    "between" => {
                        let b = ints(self, Some(2))?;
                        if b[0] > b[1] {
                            self.err(at, format!("`between` bounds are inverted: [{}, {}]", b[0], b[1]));
                            return None;
                        }
                        Op::Between(b[0], b[1])
                    }
                    _ => {
                        let x = int(self, v, at)?;
                        let iop = match op {
                            "eq" => IntOp::Eq,
                            "ne" => IntOp::Ne,
                            "gt" => IntOp::Gt,
                            "gte" => IntOp::Gte,
                            "lt" => IntOp::Lt,
                            _ => IntOp::Lte,
                        };
                        Op::Int(iop, x)
                    }
                })
            }
            SignalKind::Bool => match v {
                DeValue::Boolean(b) => Some(if op == "eq" { Op::BoolEq(*b) } else { Op::BoolNe(*b) }),
                other => {
                    self.err(
                        at,
                        format!("op {op:?} on {sig} needs true or false, not {}", type_name(other)),
                    );
                    None
                }
            },
        }
    }

    fn check_enum(&mut self, signal: SignalId, value: &str, at: &Range<usize>) -> bool {
        if let SignalKind::Enum(words) = signal.kind() {
            if !words.contains(&value) {
                self.err(
                    at.clone(),
                    format!(
                        "{} is one of {}; {value:?} can never match",
                        signal.name(),
                        words.join(", ")
                    ),
                );
                return false;
            }
        }
        true
    }

    fn slot(&mut self, t: &DeTable<'_>, span: &Range<usize>) -> Option<RawSlot> {
        let keys_ok = self.known_keys(t, "[[slot]]", &["id", "description", "default", "variants"]);
        let id = self.id(t, "id", span);
        let description = self
            .string(t, "description", span, false)
            .map(|d| d.0)
            .unwrap_or_default();
        let default = self.string(t, "default", span, true).map(|(d, at)| (d, self.loc(&at)));
        let mut variants = Vec::new();
        match t.get("variants").map(|v| (v.get_ref().as_table(), v.span())) {
            None => self.err(span.clone(), "missing `variants` (add [slot.variants.<id>] tables)"),
            Some((None, at)) => self.err(at, "`variants` must be a table of variant tables"),
            Some((Some(vt), _)) => {
                for (vid, node) in vt.iter() {
                    let vid_str = vid.get_ref().to_string();
                    if !ID.is_match(&vid_str) {
                        self.err(
                            vid.span(),
                            format!("variant id {vid_str:?} must be 1-64 characters of a-z, 0-9, _ or -"),
                        );
                        continue;
                    }
                    let Some(body) = node.get_ref().as_table() else {
                        self.err(
                            node.span(),
                            format!("variant `{vid_str}` must be a table with `content`"),
                        );
                        continue;
                    };
                    self.known_keys(body, "a variant", &["content", "description"]);
                    let Some(content) = body.get("content") else {
                        self.err(node.span(), format!("variant `{vid_str}` is missing `content`"));
                        continue;
                    };
                    if content.get_ref().as_table().is_none() {
                        self.err(
                            content.span(),
                            format!("`content` of variant `{vid_str}` must be a table"),
                        );
                        continue;
                    }
                    let json = self.json(content, true);
                    match serde_json::value::to_raw_value(&json) {
                        Ok(raw) => variants.push((vid_str, self.loc(&vid.span()), raw)),
                        Err(e) => self.err(content.span(), format!("content cannot be served as JSON: {e}")),
                    }
                }
                if vt.iter().next().is_none() {
                    self.err(span.clone(), "a slot needs at least one variant");
                }
            }
        }
        let (id, _) = id?;
        if !keys_ok {
            return None;
        }
        Some(RawSlot {
            id,
            loc: self.loc(span),
            description,
            default,
            variants,
        })
    }

    fn rule(&mut self, t: &DeTable<'_>, span: &Range<usize>) -> Option<RawRule> {
        let keys_ok = self.known_keys(t, "[[rule]]", &["slot", "segment", "variant", "experiment"]);
        let slot = self.string(t, "slot", span, true).map(|(s, at)| (s, self.loc(&at)));
        let segment = self.string(t, "segment", span, true).map(|(s, at)| (s, self.loc(&at)));
        let action = match (t.get("variant"), t.get("experiment")) {
            (Some(_), Some(_)) | (None, None) => {
                self.err(span.clone(), "a rule needs exactly one of `variant` or `experiment`");
                None
            }
            (Some(_), None) => self
                .string(t, "variant", span, true)
                .map(|(v, at)| RawAction::Variant(v, self.loc(&at))),
            (None, Some(e)) => self.experiment(e),
        };
        if !keys_ok {
            return None;
        }
        Some(RawRule {
            slot: slot?,
            segment: segment?,
            action: action?,
        })
    }

    fn experiment(&mut self, node: &Node<'_>) -> Option<RawAction> {
        let span = node.span();
        let Some(t) = node.get_ref().as_table() else {
            self.err(
                span,
                "`experiment` must be a table with `id`, `holdout_percent` and `arms`",
            );
            return None;
        };
        let keys_ok = self.known_keys(t, "an experiment", &["id", "holdout_percent", "arms"]);
        let id = self.id(t, "id", &span);
        let holdout = match self.integer(t, "holdout_percent") {
            None if t.get("holdout_percent").is_none() => Some(0),
            None => None,
            Some((h, _)) if (0..=90).contains(&h) => u32::try_from(h).ok(),
            Some((h, at)) => {
                self.err(at, format!("`holdout_percent` must be between 0 and 90, not {h}"));
                None
            }
        };
        let mut arms = Vec::new();
        let arms_loc;
        match t.get("arms") {
            None => {
                self.err(span.clone(), "missing `arms`");
                return None;
            }
            Some(a) => {
                arms_loc = self.loc(&a.span());
                let Some(items) = a.get_ref().as_array().filter(|x| !x.is_empty()) else {
                    self.err(a.span(), "`arms` must be a non-empty array of { variant, weight }");
                    return None;
                };
                for item in items {
                    let Some(arm) = item.get_ref().as_table() else {
                        self.err(item.span(), "each arm must be a table { variant, weight }");
                        continue;
                    };
                    self.known_keys(arm, "an arm", &["variant", "weight"]);
                    let variant = self.string(arm, "variant", &item.span(), true);
                    let weight = match self.integer(arm, "weight") {
                        Some((w, _)) if (1..=100).contains(&w) => u32::try_from(w).ok(),
                        Some((w, at)) => {
                            self.err(at, format!("`weight` must be between 1 and 100, not {w}"));
                            None
                        }
                        None => {
                            if arm.get("weight").is_none() {
                                self.err(item.span(), "missing `weight`");
                            }
                            None
                        }
                    };
                    if let (Some((v, at)), Some(w)) = (variant, weight) {
                        arms.push((v, self.loc(&at), w));
                    }
                }
                if arms.len() != items.len() {
                    return None;
                }
            }
        }
        let (id, id_at) = id?;
        if !keys_ok {
            return None;
        }
        Some(RawAction::Experiment {
            id,
            loc: self.loc(&id_at),
            holdout_percent: holdout?,
            arms,
            arms_loc,
        })
    }

    fn json_table(&mut self, t: &DeTable<'_>, check: bool) -> serde_json::Value {
        serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.get_ref().to_string(), self.json(v, check)))
                .collect(),
        )
    }

    /// Converts TOML to JSON; with `check`, flags identity placeholders in strings.
    fn json(&mut self, node: &Node<'_>, check: bool) -> serde_json::Value {
        use serde_json::Value as J;
        match node.get_ref() {
            DeValue::String(s) => {
                if check {
                    if let Some(m) = PLACEHOLDER.find(s) {
                        self.err(node.span(), format!(
                            "content holds the identity placeholder {:?}: personify serves segments and has no names or visitor data to fill in",
                            m.as_str()
                        ));
                    }
                }
                J::from(s.as_ref())
            }
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).map_or(J::Null, J::from),
            DeValue::Float(f) => f
                .as_str()
                .replace('_', "")
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or(J::Null, J::Number),
            DeValue::Boolean(b) => J::from(*b),
            DeValue::Datetime(d) => J::from(d.to_string()),
            DeValue::Array(a) => J::Array(a.iter().map(|v| self.json(v, check)).collect()),
            DeValue::Table(t) => self.json_table(t, check),
        }
    }
}

/// Case-normalises a comparison value the way the signal itself is normalised.
fn normalise(signal: SignalId, value: &str) -> String {
    match signal {
        SignalId::GeoCountry => value.to_ascii_uppercase(),
        SignalId::PageHost
        | SignalId::ReferrerHost
        | SignalId::Lang
        | SignalId::CampaignSource
        | SignalId::CampaignMedium
        | SignalId::CampaignName
        | SignalId::CampaignTerm
        | SignalId::CampaignContent => value.to_lowercase(),
        _ => value.to_string(),
    }
}

/// JSON with object keys sorted and no whitespace: the canonical form the version hashes.
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

impl Raw {
    /// Resolves cross-references; `None` when any failed (errors are recorded).
    fn link(self, errors: &mut Vec<RuleError>) -> Option<(Vec<Segment>, Vec<Slot>)> {
        let before = errors.len();
        let mut seen: HashMap<String, Loc> = HashMap::new();
        for (seg, loc) in &self.segments {
            if let Some(first) = seen.insert(seg.id.clone(), loc.clone()) {
                errors.push(loc.err(format!(
                    "duplicate segment id `{}` (first defined at {}:{})",
                    seg.id, first.file, first.line
                )));
            }
        }
        let mut segments: Vec<Segment> = self.segments.into_iter().map(|(s, _)| s).collect();
        segments.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
        let seg_index: HashMap<&str, usize> = segments.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();

        let mut slot_seen: HashMap<String, Loc> = HashMap::new();
        let mut slots = Vec::new();
        for raw in self.slots {
            if let Some(first) = slot_seen.insert(raw.id.clone(), raw.loc.clone()) {
                errors.push(raw.loc.err(format!(
                    "duplicate slot id `{}` (first defined at {}:{})",
                    raw.id, first.file, first.line
                )));
                continue;
            }
            let default = raw.default.as_ref().and_then(|(d, loc)| {
                let found = raw.variants.iter().position(|(v, _, _)| v == d);
                if found.is_none() {
                    errors.push(loc.err(format!("default variant `{d}` is not a variant of slot `{}`", raw.id)));
                }
                found
            });
            let variants = raw
                .variants
                .into_iter()
                .map(|(id, _, content)| Variant::new(id, content))
                .collect();
            slots.push(Slot {
                id: raw.id,
                description: raw.description,
                default: default.unwrap_or(0),
                variants,
                rules: Vec::new(),
            });
        }
        let slot_index: HashMap<String, usize> = slots.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();

        let mut experiment_ids: HashMap<String, Loc> = HashMap::new();
        let mut pairs: HashSet<(usize, usize)> = HashSet::new();
        for rule in self.rules {
            let (slot_id, slot_loc) = &rule.slot;
            let (seg_id, seg_loc) = &rule.segment;
            let slot_i = slot_index.get(slot_id).copied();
            if slot_i.is_none() && !self.broken.contains(&format!("slot:{slot_id}")) {
                errors.push(slot_loc.err(format!("unknown slot `{slot_id}`")));
            }
            let seg_i = seg_index.get(seg_id.as_str()).copied();
            if seg_i.is_none() && !self.broken.contains(&format!("segment:{seg_id}")) {
                errors.push(seg_loc.err(format!("unknown segment `{seg_id}`")));
            }
            let Some(slot_i) = slot_i else {
                continue;
            };
            // Variants and experiments are checked even when the segment is broken or unknown.
            if seg_i.is_some_and(|seg_i| !pairs.insert((slot_i, seg_i))) {
                errors.push(seg_loc.err(format!("slot `{slot_id}` already has a rule for segment `{seg_id}`")));
                continue;
            }
            let slot = &slots[slot_i];
            let variant = |name: &str, loc: &Loc, errors: &mut Vec<RuleError>| {
                let i = slot.variants.iter().position(|v| v.id == name);
                if i.is_none() {
                    errors.push(loc.err(format!("unknown variant `{name}` in slot `{slot_id}`")));
                }
                i
            };
            let action = match rule.action {
                RawAction::Variant(v, loc) => variant(&v, &loc, errors).map(Action::Variant),
                RawAction::Experiment {
                    id,
                    loc,
                    holdout_percent,
                    arms,
                    arms_loc,
                } => {
                    if let Some(first) = experiment_ids.insert(id.clone(), loc.clone()) {
                        errors.push(loc.err(format!(
                            "duplicate experiment id `{id}` (first defined at {}:{})",
                            first.file, first.line
                        )));
                    }
                    let total: u32 = arms.iter().map(|a| a.2).sum();
                    if total != 100 {
                        errors.push(arms_loc.err(format!("arm weights of experiment `{id}` sum to {total}, not 100")));
                    }
                    let mut names = HashSet::new();
                    let mut compiled = Vec::new();
                    for (v, loc, weight) in &arms {
                        if !names.insert(v.as_str()) {
                            errors.push(loc.err(format!("variant `{v}` appears twice in experiment `{id}`")));
                        }
                        if let Some(i) = variant(v, loc, errors) {
                            compiled.push(Arm {
                                variant: i,
                                weight: *weight,
                            });
                        }
                    }
                    (compiled.len() == arms.len()).then(|| {
                        let default = &slot.variants[slot.default];
                        let rendered = compiled
                            .iter()
                            .map(|a: &Arm| {
                                let v = &slot.variants[a.variant];
                                render(&v.id, &v.content, Some((&id, &v.id)))
                            })
                            .chain(std::iter::once(render(
                                &default.id,
                                &default.content,
                                Some((&id, "holdout")),
                            )))
                            .collect();
                        Action::Experiment(Experiment {
                            rendered,
                            arm_keys: compiled
                                .iter()
                                .map(|a: &Arm| format!("{id}/{}", slot.variants[a.variant].id).into())
                                .collect(),
                            holdout_key: format!("{id}/holdout").into(),
                            id,
                            holdout_bp: holdout_percent * 100,
                            arms: compiled,
                        })
                    })
                }
            };
            if let (Some(action), Some(segment)) = (action, seg_i) {
                slots[slot_i].rules.push(SlotRule { segment, action });
            }
        }
        for slot in &mut slots {
            slot.rules.sort_by_key(|r| r.segment);
        }
        slots.sort_by(|a, b| a.id.cmp(&b.id));
        (errors.len() == before).then_some((segments, slots))
    }
}
