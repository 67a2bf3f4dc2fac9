//! Conditions: a `when` tree of TOML tables becomes a typed [`Condition`], each operator checked
//! against the signal's type and each value against what the signal can hold.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diagnostic::{closest, ErrorKind, Severity};
use super::read::{type_name, FileCtx, Node};
use super::values::Values;
use crate::domain::rules::condition::{Condition, IntOp, Op, OpName, Test};
use crate::domain::signals::{SignalId, SignalKind};

/// Deepest `all`/`any`/`not` nesting accepted.
const MAX_DEPTH: usize = 16;

/// Which combinator a condition table uses.
#[derive(Clone, Copy)]
enum Combinator {
    All,
    Any,
    Not,
}

impl Combinator {
    fn key(self) -> &'static str {
        match self {
            Combinator::All => "all",
            Combinator::Any => "any",
            Combinator::Not => "not",
        }
    }
}

impl FileCtx<'_> {
    /// A condition tree, or `None` after reporting why not.
    pub(super) fn condition(&mut self, node: &Node<'_>, depth: usize) -> Option<Condition> {
        let span = node.span();
        if depth > MAX_DEPTH {
            self.err(
                span,
                ErrorKind::WrongType,
                format!("condition nested deeper than {MAX_DEPTH} levels"),
            );
            return None;
        }
        let Some(t) = node.get_ref().as_table() else {
            self.err(span, ErrorKind::WrongType, format!("a condition must be a table ({{ all = [...] }}, {{ any = [...] }}, {{ not = {{...}} }} or {{ signal, op, value }}), not {}", type_name(node.get_ref())));
            return None;
        };
        let combinators: Vec<Combinator> = [Combinator::All, Combinator::Any, Combinator::Not]
            .into_iter()
            .filter(|c| t.get(c.key()).is_some())
            .collect();
        if combinators.len() > 1 || (!combinators.is_empty() && t.get("signal").is_some()) {
            self.err(
                span,
                ErrorKind::WrongType,
                "a condition has exactly one of `all`, `any`, `not` or `signal`",
            );
            return None;
        }
        let Some(&combinator) = combinators.first() else {
            return self.test(t, &span).map(Condition::Test);
        };
        let key = combinator.key();
        self.known_keys(t, "a condition", &[key]);
        let inner = t.get(key)?;
        match combinator {
            Combinator::Not => Some(Condition::Not(Box::new(self.condition(inner, depth + 1)?))),
            Combinator::All | Combinator::Any => {
                let Some(items) = inner.get_ref().as_array() else {
                    self.err(
                        inner.span(),
                        ErrorKind::WrongType,
                        format!("`{key}` must be an array of conditions"),
                    );
                    return None;
                };
                let children: Vec<Option<Condition>> = items.iter().map(|c| self.condition(c, depth + 1)).collect();
                let children: Vec<Condition> = children.into_iter().collect::<Option<_>>()?;
                let any = matches!(combinator, Combinator::Any);
                if any && children.is_empty() {
                    self.err(
                        inner.span(),
                        ErrorKind::InvalidValue,
                        "`any` with no conditions never matches",
                    );
                    return None;
                }
                Some(if any {
                    Condition::Any(children)
                } else {
                    Condition::All(children)
                })
            }
        }
    }

    /// One `{ signal, op, value }` test.
    fn test(&mut self, t: &DeTable<'_>, span: &Range<usize>) -> Option<Test> {
        if !self.known_keys(t, "a condition", &["signal", "op", "value"]) {
            return None;
        }
        let signal = self.string(t, "signal", span, true);
        let op = self.string(t, "op", span, true);
        let signal = signal.and_then(|(name, at)| {
            let found = SignalId::from_name(&name);
            if found.is_none() {
                let suggestion = closest(&name, SignalId::ALL.iter().map(|s| s.name()));
                let message = match suggestion {
                    Some(_) => format!("unknown signal `{name}`"),
                    None => format!("unknown signal `{name}` (known: {})", SignalId::names()),
                };
                self.report(at, ErrorKind::UnknownSignal, Severity::Error, message, suggestion);
            }
            found
        });
        let op = op.and_then(|(name, at)| {
            let found = name.parse::<OpName>().ok();
            if found.is_none() {
                let suggestion = closest(&name, OpName::ALL.iter().map(|o| o.name()));
                let known: Vec<&str> = OpName::ALL.iter().map(|o| o.name()).collect();
                let message = match suggestion {
                    Some(_) => format!("unknown op `{name}`"),
                    None => format!("unknown op `{name}` (known: {})", known.join(", ")),
                };
                self.report(at.clone(), ErrorKind::UnknownOp, Severity::Error, message, suggestion);
            }
            found.map(|op| (op, at))
        });
        let (signal, (op, op_at)) = (signal?, op?);
        let value = t.get("value");
        let value_span = value.map_or_else(|| span.clone(), Spanned::span);
        let op = self.op(signal, op, &op_at, value.map(Spanned::get_ref), value_span)?;
        self.warn_never_matches(signal, &op, value.map_or_else(|| span.clone(), Spanned::span));
        Some(Test { signal, op })
    }

    /// Warns on tests that are valid but can never hold (`page.path starts_with "savings"`).
    fn warn_never_matches(&mut self, signal: SignalId, op: &Op, at: Range<usize>) {
        if signal != SignalId::PagePath {
            return;
        }
        let values: Vec<&String> = match op {
            Op::TextEq(v) | Op::StartsWith(v) => vec![v],
            Op::TextIn(vs) => vs.iter().collect(),
            _ => return,
        };
        if let Some(v) = values.into_iter().find(|v| !v.starts_with('/')) {
            self.report(
                at,
                ErrorKind::NeverMatches,
                Severity::Warning,
                format!("page.path always starts with `/`, so {v:?} can never match"),
                Some(format!("/{v}")),
            );
        }
    }

    /// The typed operator for `signal`, or `None` after reporting why not.
    fn op(
        &mut self,
        signal: SignalId,
        op: OpName,
        op_at: &Range<usize>,
        v: Option<&DeValue<'_>>,
        at: Range<usize>,
    ) -> Option<Op> {
        let kind = signal.kind();
        let sig = signal.name();
        let name = op.name();
        if !op.applies_to(kind) {
            let allowed: Vec<&str> = OpName::ALL
                .iter()
                .filter(|o| o.applies_to(kind))
                .map(|o| o.name())
                .collect();
            self.err(
                op_at.clone(),
                ErrorKind::OpNotApplicable,
                format!(
                    "op `{name}` does not apply to {sig} (use one of: {})",
                    allowed.join(", ")
                ),
            );
            return None;
        }
        if op == OpName::Exists {
            return match v {
                None => Some(Op::Exists(true)),
                Some(DeValue::Boolean(b)) => Some(Op::Exists(*b)),
                Some(other) => {
                    self.err(
                        at,
                        ErrorKind::WrongType,
                        format!("`exists` takes true or false, not {}", type_name(other)),
                    );
                    None
                }
            };
        }
        let Some(v) = v else {
            self.err(at, ErrorKind::MissingKey, format!("missing `value` for op `{name}`"));
            return None;
        };
        let values = Values { signal, op, v, at };
        use OpName as O;
        use SignalKind as K;
        Some(match (kind, op) {
            (K::Text | K::Enum(_), O::Eq) => Op::TextEq(values.one(self)?),
            (K::Text | K::Enum(_), O::Ne) => Op::TextNe(values.one(self)?),
            (K::Text | K::Enum(_), O::In) => Op::TextIn(values.many(self)?),
            (K::Text | K::Enum(_), O::NotIn) => Op::TextNotIn(values.many(self)?),
            (K::TextList, O::In) => Op::ListAnyIn(values.many(self)?),
            (K::TextList, O::NotIn) => Op::ListNoneIn(values.many(self)?),
            (K::Text, O::StartsWith) => Op::StartsWith(values.one(self)?),
            (K::Text, O::EndsWith) => Op::EndsWith(values.one(self)?),
            (K::Text | K::TextList, O::Contains) => Op::Contains(values.one(self)?),
            (K::Text, O::Matches) => values.regex(self)?,
            (K::Int { min, max }, O::In) => Op::IntIn(values.ints(self, min, max, None)?),
            (K::Int { min, max }, O::NotIn) => Op::IntNotIn(values.ints(self, min, max, None)?),
            (K::Int { min, max }, O::Between) => {
                let b = values.ints(self, min, max, Some(2))?;
                if b[0] > b[1] {
                    self.err(
                        values.at,
                        ErrorKind::InvalidValue,
                        format!("`between` bounds are inverted: [{}, {}]", b[0], b[1]),
                    );
                    return None;
                }
                Op::Between(b[0], b[1])
            }
            (K::Int { min, max }, O::Eq) => Op::Int(IntOp::Eq, values.int(self, min, max, v, values.at.clone())?),
            (K::Int { min, max }, O::Ne) => Op::Int(IntOp::Ne, values.int(self, min, max, v, values.at.clone())?),
            (K::Int { min, max }, O::Gt) => Op::Int(IntOp::Gt, values.int(self, min, max, v, values.at.clone())?),
            (K::Int { min, max }, O::Gte) => Op::Int(IntOp::Gte, values.int(self, min, max, v, values.at.clone())?),
            (K::Int { min, max }, O::Lt) => Op::Int(IntOp::Lt, values.int(self, min, max, v, values.at.clone())?),
            (K::Int { min, max }, O::Lte) => Op::Int(IntOp::Lte, values.int(self, min, max, v, values.at.clone())?),
            (K::Bool, O::Eq) => Op::BoolEq(values.boolean(self)?),
            (K::Bool, O::Ne) => Op::BoolNe(values.boolean(self)?),
            // `applies_to` refused these above; listed so a new operator or kind must be placed.
            (_, O::Exists)
            | (K::Enum(_) | K::Int { .. } | K::Bool | K::TextList, O::StartsWith | O::EndsWith | O::Matches)
            | (K::Enum(_) | K::Int { .. } | K::Bool, O::Contains)
            | (K::Text | K::Enum(_) | K::Bool | K::TextList, O::Gt | O::Gte | O::Lt | O::Lte | O::Between)
            | (K::Bool, O::In | O::NotIn)
            | (K::TextList, O::Eq | O::Ne) => {
                self.err(
                    op_at.clone(),
                    ErrorKind::OpNotApplicable,
                    format!("op `{name}` does not apply to {sig}"),
                );
                return None;
            }
        })
    }
}
