//! Sections: each `[[segment]]`, `[[slot]]`, `[[rule]]` and `[[goal]]` table becomes a typed,
//! located record; references between them are resolved later, by `link`.

use std::collections::HashSet;
use std::ops::Range;

use toml::de::DeTable;

use super::content::RawVariant;
use super::diagnostic::{closest, ErrorKind, Severity};
use super::read::{FileCtx, Loc, Node};
use super::taxonomy::Taxonomies;
use crate::domain::rules::{Segment, SENSITIVE_CATEGORIES};

/// The top-level sections a rule file may hold.
const SECTIONS: [&str; 4] = ["segment", "slot", "rule", "goal"];

/// Everything parsed from every file, before cross-references are resolved.
#[derive(Default)]
pub(super) struct Raw {
    /// Ids (`segment:x`, `slot:x`) of sections that had errors: references to them are not
    /// reported again.
    pub broken: HashSet<String>,
    pub segments: Vec<(Segment, Loc)>,
    pub slots: Vec<RawSlot>,
    pub rules: Vec<RawRule>,
    pub goals: Vec<(String, Loc)>,
}

/// A `[[slot]]`: with `default` it defines the slot; without, it adds variants to one defined
/// elsewhere (one file per campaign).
pub(super) struct RawSlot {
    pub id: String,
    pub loc: Loc,
    pub description: Option<String>,
    pub default: Option<(String, Loc)>,
    pub variants: Vec<RawVariant>,
}

pub(super) struct RawRule {
    pub slot: (String, Loc),
    pub segment: (String, Loc),
    pub action: RawAction,
}

pub(super) enum RawAction {
    Variant(String, Loc),
    Experiment(RawExperiment),
}

pub(super) struct RawExperiment {
    pub id: String,
    pub loc: Loc,
    pub holdout_percent: u32,
    pub arms: Vec<(String, Loc, u32)>,
    pub arms_loc: Loc,
    pub goals: Vec<(String, Loc)>,
    pub plan: Box<super::plan::RawPlan>,
}

impl FileCtx<'_> {
    /// Walks one file's top-level sections into `raw`.
    pub(super) fn document(&mut self, doc: &DeTable<'_>, raw: &mut Raw, taxonomies: Option<&Taxonomies>) {
        for (key, value) in doc.iter() {
            let key = key.get_ref().as_ref();
            let Some(items) = self.array_of_tables(key, value) else {
                continue;
            };
            for (table, span) in items {
                let broken_id = || {
                    table
                        .get("id")
                        .and_then(|v| v.get_ref().as_str())
                        .map(|s| format!("{key}:{s}"))
                };
                match key {
                    "segment" => match self.segment(table, &span, taxonomies) {
                        Some(seg) => raw.segments.push((seg, self.loc(&span))),
                        None => raw.broken.extend(broken_id()),
                    },
                    "slot" => match self.slot(table, &span) {
                        Some(slot) => raw.slots.push(slot),
                        None => raw.broken.extend(broken_id()),
                    },
                    "rule" => raw.rules.extend(self.rule(table, &span)),
                    _ => {
                        if self.known_keys(table, "[[goal]]", &["id", "description"]) {
                            if let Some((id, at)) = self.id(table, "id", &span) {
                                raw.goals.push((id, self.loc(&at)));
                            }
                        }
                    }
                }
            }
        }
    }

    fn array_of_tables<'t, 'i>(
        &mut self,
        key: &str,
        value: &'t Node<'i>,
    ) -> Option<Vec<(&'t DeTable<'i>, Range<usize>)>> {
        if !SECTIONS.contains(&key) {
            let suggestion = closest(key, SECTIONS);
            self.report(
                value.span(),
                ErrorKind::UnknownSection,
                Severity::Error,
                format!("unknown section `{key}` (expected [[segment]], [[slot]], [[rule]] or [[goal]])"),
                suggestion,
            );
            return None;
        }
        let Some(items) = value.get_ref().as_array() else {
            self.err(
                value.span(),
                ErrorKind::WrongType,
                format!("`{key}` must be an array of tables: write [[{key}]]"),
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            match item.get_ref().as_table() {
                Some(t) => out.push((t, item.span())),
                None => self.err(
                    item.span(),
                    ErrorKind::WrongType,
                    format!("each `{key}` must be a table"),
                ),
            }
        }
        Some(out)
    }

    fn segment(&mut self, t: &DeTable<'_>, span: &Range<usize>, taxonomies: Option<&Taxonomies>) -> Option<Segment> {
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
                let suggestion = closest(&c, SENSITIVE_CATEGORIES.iter().copied());
                self.report(
                    at,
                    ErrorKind::InvalidValue,
                    Severity::Error,
                    format!(
                        "`sensitive` {c:?} is not a known category (one of: {})",
                        SENSITIVE_CATEGORIES.join(", ")
                    ),
                    suggestion,
                );
                None
            }
            other => Some(other.map(|c| c.0)),
        };
        let seg_id = id.as_ref().map(|i| i.0.as_str());
        let audience_taxonomy = self.taxonomy_ids(t, "audience_taxonomy", seg_id, taxonomies);
        let content_taxonomy = self.taxonomy_ids(t, "content_taxonomy", seg_id, taxonomies);
        let when = match t.get("when") {
            Some(w) => self.condition(w, 0),
            None => {
                self.err(
                    span.clone(),
                    ErrorKind::MissingKey,
                    "missing `when` (a segment needs a condition)",
                );
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
            defined_at: format!("{}:{}", self.name, self.loc(span).span.line),
            count_key: id.as_str().into(),
            id,
            name: name?.0,
            description,
            priority: priority?,
            sensitive: sensitive?,
            audience_taxonomy: audience_taxonomy?,
            content_taxonomy: content_taxonomy?,
            when,
            session_based,
        })
    }

    fn slot(&mut self, t: &DeTable<'_>, span: &Range<usize>) -> Option<RawSlot> {
        let keys_ok = self.known_keys(t, "[[slot]]", &["id", "description", "default", "variants"]);
        let id = self.id(t, "id", span);
        let description = self.string(t, "description", span, false).map(|d| d.0);
        let default = self.string(t, "default", span, false).map(|(d, at)| (d, self.loc(&at)));
        let mut variants = Vec::new();
        match t.get("variants").map(|v| (v.get_ref().as_table(), v.span())) {
            None => self.err(
                span.clone(),
                ErrorKind::MissingKey,
                "missing `variants` (add [slot.variants.<id>] tables)",
            ),
            Some((None, at)) => self.err(at, ErrorKind::WrongType, "`variants` must be a table of variant tables"),
            Some((Some(vt), at)) => {
                for (vid, node) in vt.iter() {
                    variants.extend(self.variant(vid.get_ref(), vid.span(), node));
                }
                if vt.iter().next().is_none() {
                    self.err(at, ErrorKind::MissingKey, "a slot needs at least one variant");
                }
            }
        }
        let (id, _) = id?;
        if !keys_ok {
            return None;
        }
        if default.is_none() && description.is_some() {
            self.err(
                span.clone(),
                ErrorKind::UnknownKey,
                format!("a [[slot]] without `default` adds variants to slot `{id}` and takes only `id` and `variants`; describe the slot where its `default` is"),
            );
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
                self.err(
                    span.clone(),
                    ErrorKind::MissingKey,
                    "a rule needs exactly one of `variant` or `experiment`",
                );
                None
            }
            (Some(_), None) => self
                .string(t, "variant", span, true)
                .map(|(v, at)| RawAction::Variant(v, self.loc(&at))),
            (None, Some(e)) => self.experiment(e).map(RawAction::Experiment),
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

    fn experiment(&mut self, node: &Node<'_>) -> Option<RawExperiment> {
        let span = node.span();
        let Some(t) = node.get_ref().as_table() else {
            self.err(
                span,
                ErrorKind::WrongType,
                "`experiment` must be a table with `id`, `holdout_percent` and `arms`",
            );
            return None;
        };
        let allowed = [
            &["id", "holdout_percent", "arms", "goals"][..],
            &super::plan::PLAN_KEYS[..],
        ]
        .concat();
        let keys_ok = self.known_keys(t, "an experiment", &allowed);
        let plan = self.plan(t, &span);
        let id = self.id(t, "id", &span);
        let holdout = match self.integer(t, "holdout_percent") {
            None if t.get("holdout_percent").is_none() => Some(0),
            None => None,
            Some((h, _)) if (0..=90).contains(&h) => u32::try_from(h).ok(),
            Some((h, at)) => {
                self.err(
                    at,
                    ErrorKind::InvalidValue,
                    format!("`holdout_percent` must be between 0 and 90, not {h}"),
                );
                None
            }
        };
        let goals = self
            .id_list(t, "goals")
            .map(|g| g.into_iter().map(|(id, at)| (id, self.loc(&at))).collect());
        let Some(a) = t.get("arms") else {
            self.err(span, ErrorKind::MissingKey, "missing `arms`");
            return None;
        };
        let arms_loc = self.loc(&a.span());
        let Some(items) = a.get_ref().as_array().filter(|x| !x.is_empty()) else {
            self.err(
                a.span(),
                ErrorKind::WrongType,
                "`arms` must be a non-empty array of { variant, weight }",
            );
            return None;
        };
        let mut arms = Vec::new();
        for item in items {
            let Some(arm) = item.get_ref().as_table() else {
                self.err(
                    item.span(),
                    ErrorKind::WrongType,
                    "each arm must be a table { variant, weight }",
                );
                continue;
            };
            self.known_keys(arm, "an arm", &["variant", "weight"]);
            let variant = self.string(arm, "variant", &item.span(), true);
            let weight = match self.integer(arm, "weight") {
                Some((w, _)) if (1..=100).contains(&w) => u32::try_from(w).ok(),
                Some((w, at)) => {
                    self.err(
                        at,
                        ErrorKind::InvalidValue,
                        format!("`weight` must be between 1 and 100, not {w}"),
                    );
                    None
                }
                None => {
                    if arm.get("weight").is_none() {
                        self.err(item.span(), ErrorKind::MissingKey, "missing `weight`");
                    }
                    None
                }
            };
            if let (Some((v, at)), Some(w)) = (variant, weight) {
                arms.push((v, self.loc(&at), w));
            }
        }
        let (id, id_at) = id?;
        if !keys_ok || arms.len() != items.len() {
            return None;
        }
        Some(RawExperiment {
            id,
            loc: self.loc(&id_at),
            holdout_percent: holdout?,
            arms,
            arms_loc,
            goals: goals?,
            plan: Box::new(plan?),
        })
    }
}
