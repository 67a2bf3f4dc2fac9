//! Test values: the `value` of a `{ signal, op, value }` test read as its operator needs it, and
//! normalised and range-checked for its signal.

use std::ops::Range;

use toml::de::DeValue;

use super::diagnostic::{closest, ErrorKind, Severity};
use super::read::{as_i64, type_name, FileCtx};
use crate::domain::rules::condition::{Op, OpName};
use crate::domain::signals::{SignalId, SignalKind};

/// The `value` of one test, read as the operator needs it.
pub(super) struct Values<'v, 'i> {
    pub signal: SignalId,
    pub op: OpName,
    pub v: &'v DeValue<'i>,
    pub at: Range<usize>,
}

impl Values<'_, '_> {
    pub fn one(&self, file: &mut FileCtx<'_>) -> Option<String> {
        match self.v {
            DeValue::String(s) => {
                let s = self.signal.normalise(s);
                check_enum(file, self.signal, &s, &self.at).then_some(s)
            }
            other => {
                file.err(
                    self.at.clone(),
                    ErrorKind::WrongType,
                    format!(
                        "op `{}` on {} needs a string value, not {}",
                        self.op.name(),
                        self.signal.name(),
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    pub fn many(&self, file: &mut FileCtx<'_>) -> Option<Vec<String>> {
        let (op, sig) = (self.op.name(), self.signal.name());
        let Some(items) = self.v.as_array().filter(|a| !a.is_empty()) else {
            file.err(
                self.at.clone(),
                ErrorKind::WrongType,
                format!("op `{op}` on {sig} needs a non-empty array of strings"),
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            match item.get_ref().as_str() {
                Some(s) => {
                    let s = self.signal.normalise(s);
                    if check_enum(file, self.signal, &s, &item.span()) {
                        out.push(s);
                    }
                }
                None => file.err(
                    item.span(),
                    ErrorKind::WrongType,
                    format!("op `{op}` on {sig} needs strings, not {}", type_name(item.get_ref())),
                ),
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    pub fn regex(&self, file: &mut FileCtx<'_>) -> Option<Op> {
        let pattern = self.one(file)?;
        match regex::RegexBuilder::new(&pattern).size_limit(1 << 20).build() {
            Ok(re) => Some(Op::Matches(re)),
            Err(e) => {
                let msg = e.to_string();
                let last = msg.lines().last().unwrap_or("invalid").trim();
                file.err(
                    self.at.clone(),
                    ErrorKind::InvalidValue,
                    format!("bad regex for {}: {last}", self.signal.name()),
                );
                None
            }
        }
    }

    pub fn boolean(&self, file: &mut FileCtx<'_>) -> Option<bool> {
        match self.v {
            DeValue::Boolean(b) => Some(*b),
            other => {
                file.err(
                    self.at.clone(),
                    ErrorKind::WrongType,
                    format!(
                        "op `{}` on {} needs true or false, not {}",
                        self.op.name(),
                        self.signal.name(),
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    pub fn int(&self, file: &mut FileCtx<'_>, min: i64, max: i64, v: &DeValue<'_>, at: Range<usize>) -> Option<i64> {
        let sig = self.signal.name();
        match as_i64(v) {
            Some(i) if (min..=max).contains(&i) => Some(i),
            Some(i) => {
                file.err(
                    at,
                    ErrorKind::InvalidValue,
                    format!("{sig} is between {min} and {max}; {i} can never match"),
                );
                None
            }
            None => {
                file.err(
                    at,
                    ErrorKind::WrongType,
                    format!(
                        "op `{}` on {sig} needs an integer, not {}",
                        self.op.name(),
                        type_name(v)
                    ),
                );
                None
            }
        }
    }

    pub fn ints(&self, file: &mut FileCtx<'_>, min: i64, max: i64, exact: Option<usize>) -> Option<Vec<i64>> {
        let items = self
            .v
            .as_array()
            .filter(|a| !a.is_empty() && exact.is_none_or(|n| a.len() == n));
        let Some(items) = items else {
            let what = exact.map_or("a non-empty array of integers".to_string(), |n| {
                format!("an array of {n} integers")
            });
            file.err(
                self.at.clone(),
                ErrorKind::WrongType,
                format!("op `{}` on {} needs {what}", self.op.name(), self.signal.name()),
            );
            return None;
        };
        let out: Vec<Option<i64>> = items
            .iter()
            .map(|i| self.int(file, min, max, i.get_ref(), i.span()))
            .collect();
        out.into_iter().collect()
    }
}

/// Whether `value` is one of an enum signal's words; reports it (with the closest word) when not.
fn check_enum(file: &mut FileCtx<'_>, signal: SignalId, value: &str, at: &Range<usize>) -> bool {
    let SignalKind::Enum(words) = signal.kind() else {
        return true;
    };
    if words.contains(&value) {
        return true;
    }
    file.report(
        at.clone(),
        ErrorKind::InvalidValue,
        Severity::Error,
        format!(
            "{} is one of {}; {value:?} can never match",
            signal.name(),
            words.join(", ")
        ),
        closest(value, words.iter().copied()),
    );
    false
}
