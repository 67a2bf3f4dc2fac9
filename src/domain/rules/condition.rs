//! Compiled condition trees and their evaluation against [`Signals`].

use regex::Regex;

use crate::domain::signals::{SignalId, SignalKind, SignalValue, Signals};

/// A condition tree as compiled from a rule's `when`.
#[derive(Debug, Clone)]
pub enum Condition {
    /// Every child holds (an empty `all` holds).
    All(Vec<Condition>),
    /// At least one child holds.
    Any(Vec<Condition>),
    /// The child does not hold.
    Not(Box<Condition>),
    /// A test of one signal.
    Test(Test),
}

/// One `{ signal, op, value }` test, with its value already typed for the signal.
#[derive(Debug, Clone)]
pub struct Test {
    /// The signal read.
    pub signal: SignalId,
    /// What is checked.
    pub op: Op,
}

/// Operators with typed operands. On an absent signal only `ne`, `not_in` and `exists = false` hold.
#[derive(Debug, Clone)]
pub enum Op {
    /// Present (`true`) or absent (`false`).
    Exists(bool),
    /// Text equality.
    TextEq(String),
    /// Text inequality.
    TextNe(String),
    /// Text is one of.
    TextIn(Vec<String>),
    /// Text is none of.
    TextNotIn(Vec<String>),
    /// Text prefix.
    StartsWith(String),
    /// Text suffix.
    EndsWith(String),
    /// Substring, or list membership for list signals.
    Contains(String),
    /// Regular-expression search.
    Matches(Regex),
    /// Integer comparisons.
    Int(IntOp, i64),
    /// Integer is one of.
    IntIn(Vec<i64>),
    /// Integer is none of.
    IntNotIn(Vec<i64>),
    /// Inclusive range.
    Between(i64, i64),
    /// Boolean equality.
    BoolEq(bool),
    /// Boolean inequality.
    BoolNe(bool),
    /// Some list element is one of.
    ListAnyIn(Vec<String>),
    /// No list element is one of.
    ListNoneIn(Vec<String>),
}

/// Integer comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `gte`
    Gte,
    /// `lt`
    Lt,
    /// `lte`
    Lte,
}

impl Condition {
    /// Whether the condition holds for these signals.
    pub fn eval(&self, s: &Signals) -> bool {
        match self {
            Condition::All(cs) => cs.iter().all(|c| c.eval(s)),
            Condition::Any(cs) => cs.iter().any(|c| c.eval(s)),
            Condition::Not(c) => !c.eval(s),
            Condition::Test(t) => t.eval(s),
        }
    }

    /// Calls `f` on every signal the tree reads.
    pub fn for_each_signal(&self, f: &mut impl FnMut(SignalId)) {
        match self {
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| c.for_each_signal(f)),
            Condition::Not(c) => c.for_each_signal(f),
            Condition::Test(t) => f(t.signal),
        }
    }
}

impl Test {
    /// Whether the test holds.
    pub fn eval(&self, s: &Signals) -> bool {
        let v = s.get(self.signal);
        match (&self.op, v) {
            (Op::Exists(want), v) => (v != SignalValue::Absent) == *want,
            (Op::TextNe(_) | Op::TextNotIn(_) | Op::ListNoneIn(_) | Op::BoolNe(_), SignalValue::Absent) => true,
            (Op::Int(IntOp::Ne, _) | Op::IntNotIn(_), SignalValue::Absent) => true,
            (_, SignalValue::Absent) => false,
            (Op::TextEq(x), SignalValue::Text(t)) => t == x,
            (Op::TextNe(x), SignalValue::Text(t)) => t != x,
            (Op::TextIn(xs), SignalValue::Text(t)) => xs.iter().any(|x| x == t),
            (Op::TextNotIn(xs), SignalValue::Text(t)) => !xs.iter().any(|x| x == t),
            (Op::StartsWith(x), SignalValue::Text(t)) => t.starts_with(x.as_str()),
            (Op::EndsWith(x), SignalValue::Text(t)) => t.ends_with(x.as_str()),
            (Op::Contains(x), SignalValue::Text(t)) => t.contains(x.as_str()),
            (Op::Contains(x), SignalValue::List(l)) => l.iter().any(|e| e == x),
            (Op::Matches(re), SignalValue::Text(t)) => re.is_match(t),
            (Op::Int(op, x), SignalValue::Int(i)) => match op {
                IntOp::Eq => i == *x,
                IntOp::Ne => i != *x,
                IntOp::Gt => i > *x,
                IntOp::Gte => i >= *x,
                IntOp::Lt => i < *x,
                IntOp::Lte => i <= *x,
            },
            (Op::IntIn(xs), SignalValue::Int(i)) => xs.contains(&i),
            (Op::IntNotIn(xs), SignalValue::Int(i)) => !xs.contains(&i),
            (Op::Between(lo, hi), SignalValue::Int(i)) => (*lo..=*hi).contains(&i),
            (Op::BoolEq(x), SignalValue::Bool(b)) => b == *x,
            (Op::BoolNe(x), SignalValue::Bool(b)) => b != *x,
            (Op::ListAnyIn(xs), SignalValue::List(l)) => l.iter().any(|e| xs.contains(e)),
            (Op::ListNoneIn(xs), SignalValue::List(l)) => !l.iter().any(|e| xs.contains(e)),
            // The loader only builds operator/signal pairs of matching types.
            _ => false,
        }
    }
}

/// The operator names a rule can write, as a closed set: every match over them is exhaustive. The
/// name rules use is the snake_case variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum OpName {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `in`
    In,
    /// `not_in`
    NotIn,
    /// `starts_with`
    StartsWith,
    /// `ends_with`
    EndsWith,
    /// `contains`
    Contains,
    /// `matches`
    Matches,
    /// `gt`
    Gt,
    /// `gte`
    Gte,
    /// `lt`
    Lt,
    /// `lte`
    Lte,
    /// `between`
    Between,
    /// `exists`
    Exists,
}

impl OpName {
    /// Every operator, in the order the documentation lists them.
    pub const ALL: &'static [OpName] = <OpName as strum::VariantArray>::VARIANTS;

    /// The name rules use.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Whether the operator applies to signals of this kind (`exists` applies to all).
    pub fn applies_to(self, kind: SignalKind) -> bool {
        use OpName as O;
        match kind {
            SignalKind::Text => matches!(
                self,
                O::Eq | O::Ne | O::In | O::NotIn | O::StartsWith | O::EndsWith | O::Contains | O::Matches | O::Exists
            ),
            SignalKind::Enum(_) => matches!(self, O::Eq | O::Ne | O::In | O::NotIn | O::Exists),
            SignalKind::Int { .. } => matches!(
                self,
                O::Eq | O::Ne | O::In | O::NotIn | O::Gt | O::Gte | O::Lt | O::Lte | O::Between | O::Exists
            ),
            SignalKind::Bool => matches!(self, O::Eq | O::Ne | O::Exists),
            SignalKind::TextList => matches!(self, O::Contains | O::In | O::NotIn | O::Exists),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OpName;

    #[test]
    fn every_op_name_round_trips_and_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &op in OpName::ALL {
            assert_eq!(op.name().parse::<OpName>(), Ok(op));
            assert!(seen.insert(op.name()));
        }
        assert_eq!(OpName::NotIn.name(), "not_in");
        assert_eq!(OpName::StartsWith.name(), "starts_with");
        assert!("starts_wth".parse::<OpName>().is_err());
    }
}
