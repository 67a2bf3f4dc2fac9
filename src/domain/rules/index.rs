//! A candidate index over segments, so a page view evaluates only the segments it could match.
//!
//! Each segment's `when` is reduced to a *guard*: a set of atoms (`page.path` starts with `/x`,
//! `campaign.name` is `y`, `referrer.host` ends with `z`, `session.categories` has `w`) of which at
//! least one must hold whenever the condition holds. The index maps atoms to segments; a lookup
//! collects the segments whose guard has a holding atom, plus those without a guard, and only those
//! are evaluated in full. Guards are necessary conditions, never sufficient ones, so the answer is
//! the same as evaluating every segment (a property test checks this).

use std::collections::HashMap;

use super::condition::{Condition, Op};
use crate::domain::counts::sketch::Mix64;
use crate::domain::signals::{SignalId, SignalKind, SignalValue, Signals};

/// One indexable necessary fact about a signal.
#[derive(Debug, Clone, PartialEq)]
enum Atom {
    /// Text equal to, or a list containing, the value.
    Eq(SignalId, String),
    /// Text starting with the value.
    Prefix(SignalId, String),
    /// Text ending with the value.
    Suffix(SignalId, String),
}

impl Atom {
    fn signal(&self) -> SignalId {
        match self {
            Atom::Eq(s, _) | Atom::Prefix(s, _) | Atom::Suffix(s, _) => *s,
        }
    }

    /// Lower is more selective; used to pick the best guard among an `all`'s children.
    fn cost(&self) -> u32 {
        let signal = self.signal();
        // A closed set of a few words (device class, weekday) narrows little.
        let base = match signal.kind() {
            SignalKind::Enum(words) => 100 / words.len().max(1) as u32,
            _ => 1,
        };
        match self {
            Atom::Eq(..) => base,
            Atom::Prefix(_, v) | Atom::Suffix(_, v) if v.is_empty() => 1_000,
            Atom::Prefix(..) | Atom::Suffix(..) => base + 1,
        }
    }
}

/// A disjunction of atoms, one of which holds whenever the condition does; `None` = no such set.
fn guard(c: &Condition) -> Option<Vec<Atom>> {
    match c {
        Condition::Test(t) => {
            let s = t.signal;
            let text = matches!(s.kind(), SignalKind::Text | SignalKind::Enum(_));
            let list = s.kind() == SignalKind::TextList;
            match &t.op {
                Op::TextEq(v) if text => Some(vec![Atom::Eq(s, v.clone())]),
                Op::TextIn(vs) if text => Some(vs.iter().map(|v| Atom::Eq(s, v.clone())).collect()),
                Op::StartsWith(v) if text => Some(vec![Atom::Prefix(s, v.clone())]),
                Op::EndsWith(v) if text => Some(vec![Atom::Suffix(s, v.clone())]),
                Op::Contains(v) if list => Some(vec![Atom::Eq(s, v.clone())]),
                Op::ListAnyIn(vs) if list => Some(vs.iter().map(|v| Atom::Eq(s, v.clone())).collect()),
                _ => None,
            }
        }
        // Any child's guard is necessary for the conjunction: take the most selective.
        Condition::All(cs) => cs
            .iter()
            .filter_map(guard)
            .min_by_key(|atoms| atoms.iter().map(Atom::cost).sum::<u32>()),
        // Every branch needs a guard, and the union of theirs is necessary.
        Condition::Any(cs) => {
            let mut all = Vec::new();
            for c in cs {
                all.extend(guard(c)?);
            }
            // An empty `any` never holds: an empty guard (never a candidate) is exact.
            Some(all)
        }
        Condition::Not(_) => None,
    }
}

/// Segment indices by atom value. Hashed with the counters' fast mixer rather than SipHash: the
/// keys come from the rules, and a page view's values are only looked up in this fixed table, so
/// however they are chosen a lookup walks the table's own probe sequences (a few lookups per signal
/// and prefix length on every page view).
type Postings = HashMap<Box<str>, Vec<u32>, Mix64>;

/// Segments keyed by values of one signal, grouped by key length for prefix and suffix lookups.
#[derive(Debug, Default)]
struct ByLength {
    /// `(length, value → segments)`, lengths ascending.
    levels: Vec<(usize, Postings)>,
}

impl ByLength {
    fn insert(&mut self, value: &str, segment: u32) {
        let len = value.len();
        let pos = match self.levels.binary_search_by_key(&len, |(l, _)| *l) {
            Ok(p) => p,
            Err(p) => {
                self.levels.insert(p, (len, Postings::default()));
                p
            }
        };
        self.levels[pos].1.entry(value.into()).or_default().push(segment);
    }

    fn prefixes_of(&self, text: &str, out: &mut Vec<u32>) {
        for (len, map) in &self.levels {
            if *len > text.len() {
                break;
            }
            if let Some(head) = text.get(..*len) {
                if let Some(segs) = map.get(head) {
                    out.extend_from_slice(segs);
                }
            }
        }
    }

    fn suffixes_of(&self, text: &str, out: &mut Vec<u32>) {
        for (len, map) in &self.levels {
            if *len > text.len() {
                break;
            }
            if let Some(tail) = text.get(text.len() - len..) {
                if let Some(segs) = map.get(tail) {
                    out.extend_from_slice(segs);
                }
            }
        }
    }
}

/// The atoms of every segment, by signal.
#[derive(Debug, Default)]
struct SignalIndex {
    eq: Postings,
    prefix: ByLength,
    suffix: ByLength,
}

/// The candidate index of a [`super::RuleSet`].
#[derive(Debug, Default)]
pub struct SegmentIndex {
    /// Per signal, indexed by `SignalId as usize` (catalogue order).
    signals: Vec<SignalIndex>,
    /// Segments without a guard: always evaluated.
    always: Vec<u32>,
    /// Signals that some atom reads, so lookups skip the rest.
    used: Vec<SignalId>,
}

impl SegmentIndex {
    /// Builds the index of these segment conditions (in segment order).
    pub fn build<'a>(conditions: impl IntoIterator<Item = &'a Condition>) -> SegmentIndex {
        let mut index = SegmentIndex {
            signals: SignalId::ALL.iter().map(|_| SignalIndex::default()).collect(),
            ..SegmentIndex::default()
        };
        for (i, c) in conditions.into_iter().enumerate() {
            let i = i as u32;
            let Some(atoms) = guard(c) else {
                index.always.push(i);
                continue;
            };
            for atom in atoms {
                let signal = atom.signal();
                if !index.used.contains(&signal) {
                    index.used.push(signal);
                }
                let entry = &mut index.signals[signal as usize];
                match atom {
                    Atom::Eq(_, v) => entry.eq.entry(v.into()).or_default().push(i),
                    Atom::Prefix(_, v) => entry.prefix.insert(&v, i),
                    Atom::Suffix(_, v) => entry.suffix.insert(&v, i),
                }
            }
        }
        index
    }

    /// Segments that may match these signals, ascending and without repeats.
    pub fn candidates(&self, s: &Signals) -> Vec<u32> {
        let mut out = self.always.clone();
        for &signal in &self.used {
            let idx = &self.signals[signal as usize];
            match s.get(signal) {
                SignalValue::Text(t) => {
                    if let Some(segs) = idx.eq.get(t) {
                        out.extend_from_slice(segs);
                    }
                    idx.prefix.prefixes_of(t, &mut out);
                    idx.suffix.suffixes_of(t, &mut out);
                }
                SignalValue::List(items) => {
                    for item in items {
                        if let Some(segs) = idx.eq.get(item.as_str()) {
                            out.extend_from_slice(segs);
                        }
                    }
                }
                SignalValue::Int(_) | SignalValue::Bool(_) | SignalValue::Absent => {}
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// How many segments have no guard and are evaluated on every page view.
    pub fn unguarded(&self) -> usize {
        self.always.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::load::load_sources;

    fn guard_of(when: &str) -> Option<Vec<Atom>> {
        let text = format!("[[segment]]\nid = \"t\"\nname = \"T\"\nwhen = {when}\n");
        let rules = load_sources(&[("t.toml".into(), text)]).expect("rules load");
        guard(&rules.segments[0].when)
    }

    #[test]
    fn guards_pick_the_selective_child_and_give_up_on_negation() {
        let g = guard_of(
            r#"{ all = [ { signal = "device.class", op = "eq", value = "mobile" }, { signal = "page.path", op = "starts_with", value = "/loans" } ] }"#,
        );
        assert_eq!(g, Some(vec![Atom::Prefix(SignalId::PagePath, "/loans".into())]));
        assert_eq!(
            guard_of(r#"{ not = { signal = "page.path", op = "eq", value = "/" } }"#),
            None
        );
        assert_eq!(
            guard_of(
                r#"{ any = [ { signal = "page.path", op = "eq", value = "/a" }, { signal = "time.hour", op = "gte", value = 20 } ] }"#
            ),
            None
        );
        assert_eq!(
            guard_of(r#"{ signal = "session.categories", op = "contains", value = "isa" }"#),
            Some(vec![Atom::Eq(SignalId::SessionCategories, "isa".into())])
        );
    }

    #[test]
    fn lookups_by_prefix_suffix_and_list_membership() {
        let text = r#"
[[segment]]
id = "a"
name = "A"
when = { signal = "page.path", op = "starts_with", value = "/mortgages" }
[[segment]]
id = "b"
name = "B"
when = { signal = "referrer.host", op = "ends_with", value = "uswitch.com" }
[[segment]]
id = "c"
name = "C"
when = { signal = "session.categories", op = "contains", value = "isa" }
[[segment]]
id = "d"
name = "D"
when = { signal = "time.hour", op = "gte", value = 20 }
"#;
        let rules = load_sources(&[("t.toml".into(), text.into())]).expect("rules load");
        let index = SegmentIndex::build(rules.segments.iter().map(|s| &s.when));
        assert_eq!(index.unguarded(), 1);
        let signals = Signals {
            page_path: Some("/mortgages/rates".into()),
            referrer_host: Some("www.uswitch.com".into()),
            session: Some(crate::domain::signals::SessionSummary {
                pages_viewed: 1,
                categories: vec!["isa".into()],
                returning: false,
            }),
            ..Signals::default()
        };
        let ids: Vec<&str> = index
            .candidates(&signals)
            .into_iter()
            .map(|i| rules.segments[i as usize].id.as_str())
            .collect();
        assert_eq!(ids.len(), 4, "{ids:?}");
        let none = index.candidates(&Signals {
            page_path: Some("/mortgage".into()),
            ..Signals::default()
        });
        assert_eq!(none.len(), 1, "only the unguarded segment");
    }
}
