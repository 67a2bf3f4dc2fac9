//! Content: variant tables become the JSON served as is, checked for identity placeholders, and
//! (for what sensitive segments receive) for a celebrating or selling tone.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;
use serde_json::value::RawValue;
use toml::de::DeValue;

use super::diagnostic::ErrorKind;
use super::read::{FileCtx, Loc, Node};

static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\[\s*(first_?|last_?|full_?|sur|given_?)?name\s*\]|\[[A-Z_]*NAME[A-Z_]*\]|\{\{[^}]*\}\}|%[A-Z][A-Z0-9_]*%|\*\|[A-Z0-9_]+\|\*|\{\s*visitor\.[^}]*\}",
    )
    .unwrap_or_else(|e| unreachable!("{e}"))
});

/// One variant as parsed: its served JSON, and every text in it with its place (for the tone check).
pub(super) struct RawVariant {
    pub id: String,
    pub loc: Loc,
    pub content: Box<RawValue>,
    pub texts: Vec<(String, Loc)>,
}

/// Phrases that content shown to a sensitive segment must not contain, matched case-insensitively
/// as whole words. Configured as `rules.tone`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToneLists {
    /// Celebration: wrong beside a bereavement, an illness or debt.
    pub celebration: Vec<String>,
    /// Selling: offers aimed at people in a vulnerable moment.
    pub selling: Vec<String>,
}

impl Default for ToneLists {
    fn default() -> Self {
        let list = |words: &[&str]| words.iter().map(|w| (*w).to_string()).collect();
        ToneLists {
            celebration: list(&[
                "congratulations",
                "congrats",
                "celebrate",
                "celebration",
                "great news",
                "good news",
                "exciting",
                "hooray",
                "🎉",
                "🥳",
            ]),
            selling: list(&[
                "offer",
                "offers",
                "deal",
                "deals",
                "% off",
                "limited time",
                "sale",
                "discount",
                "buy now",
                "don't miss",
                "exclusive",
                "upgrade",
            ]),
        }
    }
}

impl ToneLists {
    /// The first phrase of either list that `text` contains, with what it does ("celebrates", "sells").
    pub fn find(&self, text: &str) -> Option<(&'static str, &str)> {
        let lower = text.to_lowercase();
        first_phrase(&lower, &self.celebration)
            .map(|p| ("celebrates", p))
            .or_else(|| first_phrase(&lower, &self.selling).map(|p| ("sells", p)))
    }
}

fn first_phrase<'a>(lower: &str, phrases: &'a [String]) -> Option<&'a str> {
    phrases
        .iter()
        .map(String::as_str)
        .find(|p| contains_phrase(lower, &p.to_lowercase()))
}

/// Whether `phrase` occurs in `text` with no letter or digit glued to either end of it.
fn contains_phrase(text: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    text.match_indices(phrase).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + phrase.len()..].chars().next();
        let edge_ok = |edge: Option<char>, inner: Option<char>| {
            !(edge.is_some_and(char::is_alphanumeric) && inner.is_some_and(char::is_alphanumeric))
        };
        edge_ok(before, phrase.chars().next()) && edge_ok(after, phrase.chars().next_back())
    })
}

impl FileCtx<'_> {
    /// One `[slot.variants.<id>]` table.
    pub(super) fn variant(&mut self, id: &str, id_at: Range<usize>, node: &Node<'_>) -> Option<RawVariant> {
        if !self.check_id(id, "variant id", id_at.clone()) {
            return None;
        }
        let Some(body) = node.get_ref().as_table() else {
            self.err(
                node.span(),
                ErrorKind::WrongType,
                format!("variant `{id}` must be a table with `content`"),
            );
            return None;
        };
        self.known_keys(body, "a variant", &["content", "description"]);
        let Some(content) = body.get("content") else {
            self.err(
                node.span(),
                ErrorKind::MissingKey,
                format!("variant `{id}` is missing `content`"),
            );
            return None;
        };
        if content.get_ref().as_table().is_none() {
            self.err(
                content.span(),
                ErrorKind::WrongType,
                format!("`content` of variant `{id}` must be a table"),
            );
            return None;
        }
        let mut texts = Vec::new();
        let json = self.json(content, Some(&mut texts));
        match serde_json::value::to_raw_value(&json) {
            Ok(raw) => Some(RawVariant {
                id: id.to_string(),
                loc: self.loc(&id_at),
                content: raw,
                texts,
            }),
            Err(e) => {
                self.err(
                    content.span(),
                    ErrorKind::WrongType,
                    format!("content cannot be served as JSON: {e}"),
                );
                None
            }
        }
    }

    /// TOML as JSON; with `texts`, flags identity placeholders and collects every string.
    fn json(&mut self, node: &Node<'_>, mut texts: Option<&mut Vec<(String, Loc)>>) -> serde_json::Value {
        use serde_json::Value as J;
        match node.get_ref() {
            DeValue::String(s) => {
                if let Some(texts) = texts {
                    if let Some(m) = PLACEHOLDER.find(s) {
                        self.err(node.span(), ErrorKind::IdentityPlaceholder, format!(
                            "content holds the identity placeholder {:?}: personify serves segments and has no names or visitor data to fill in",
                            m.as_str()
                        ));
                    }
                    texts.push((s.to_string(), self.loc(&node.span())));
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
            DeValue::Array(a) => J::Array(a.iter().map(|v| self.json(v, texts.as_deref_mut())).collect()),
            DeValue::Table(t) => J::Object(
                t.iter()
                    .map(|(k, v)| (k.get_ref().to_string(), self.json(v, texts.as_deref_mut())))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ToneLists;

    #[test]
    fn phrases_match_as_whole_words_case_insensitively() {
        let tone = ToneLists::default();
        assert_eq!(tone.find("CONGRATULATIONS!"), Some(("celebrates", "congratulations")));
        assert_eq!(tone.find("Party time 🎉"), Some(("celebrates", "🎉")));
        assert_eq!(tone.find("Now 20% off"), Some(("sells", "% off")));
        assert_eq!(tone.find("Help with dealing with an estate"), None);
        assert_eq!(tone.find("Someone to talk to, when it suits you"), None);
    }
}
