//! Replaying page views through two rule sets (`personify diff`): how many decisions change per slot.
//! Each view runs once through the page-view pipeline ([`crate::domain::pageview::view`], as `explain` runs it, consent
//! assumed granted so every rule can show) and is decided on both sets with the same visitor key, so
//! an experiment's arm moves only when its bucketing changed. The sample is a file of page views in the
//! `/v1/decide` body shape, or one generated from the paths, campaigns and referrers the rules' own
//! conditions name ([`generated`]), deterministically.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::domain::pageview::decide::Decision;
use crate::domain::pageview::explain::{ExplainConsent, ExplainRequest};
use crate::domain::pageview::view::Pipeline;
use crate::domain::privacy::{utc_day, Keyring, Secret};
use crate::domain::rules::condition::{Condition, Op};
use crate::domain::rules::RuleSet;
use crate::domain::signals::SignalId;

/// The clock of every replayed view (Monday 2026-01-05 12:00 UTC): time-of-day rules see one fixed
/// moment, so two runs over the same sample agree.
pub const REPLAY_AT: Duration = Duration::from_secs(1_767_614_400);

/// Visitors per generated page view: enough that an experiment's arms and holdout all appear.
pub const VISITORS_PER_VIEW: usize = 8;

/// Most distinct generated page views (before the visitors): a huge rule set gets a prefix.
pub const MAX_GENERATED: usize = 5_000;

/// A keyring with fixed key material, so a visitor id falls in the same arm on every run (never a
/// node's secret: the arms are examples of the bucketing, not a real visitor's).
pub fn fixed_keyring() -> Keyring {
    let now = UNIX_EPOCH + REPLAY_AT;
    Keyring::with_salts(
        Secret::from_bytes([7; 32]),
        vec![(utc_day(now), Secret::from_bytes([11; 32]))],
    )
}

/// One page view of a sample: the `/v1/decide` body (other fields, such as `consent`, are ignored)
/// plus the headers a browser or CDN would add, all optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct SampleView {
    /// `site`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// `page`
    pub page: SamplePage,
    /// `session`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SampleSession>,
    /// `visitor_id`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_id: Option<String>,
    /// `tz_offset_minutes`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz_offset_minutes: Option<i64>,
    /// The country header's value (ISO alpha-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The `User-Agent` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The `Accept-Language` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_language: Option<String>,
}

/// `page` of a sample view.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct SamplePage {
    /// `page.url`
    pub url: String,
    /// `page.referrer`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// `page.category`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// `session` of a sample view.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct SampleSession {
    /// Pages viewed this session.
    #[serde(default)]
    pub pages_viewed: u32,
    /// Content categories seen this session.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Whether the device has been here before.
    #[serde(default)]
    pub returning: bool,
}

impl SampleView {
    /// The view as `explain` takes it, with consent assumed granted.
    fn request(&self) -> ExplainRequest {
        let session = self.session.clone().unwrap_or_default();
        ExplainRequest {
            url: self.page.url.clone(),
            referrer: self.page.referrer.clone(),
            category: self.page.category.clone(),
            country: self.country.clone(),
            user_agent: self.user_agent.clone(),
            accept_language: self.accept_language.clone(),
            tz_offset_minutes: self.tz_offset_minutes,
            pages_viewed: self.session.as_ref().map(|s| s.pages_viewed),
            session_categories: session.categories,
            returning: session.returning,
            consent: ExplainConsent::Granted,
            visitor_id: self.visitor_id.clone(),
            ..ExplainRequest::default()
        }
    }
}

/// How one slot's decisions moved between the sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotReplay {
    /// Slot id (in either set).
    pub slot: String,
    /// Views decided.
    pub views: usize,
    /// Views whose variant or its content differs.
    pub changed: usize,
    /// Each change as old → new variant, most frequent first.
    pub transitions: Vec<Transition>,
}

/// Views that went from one variant to another (`(none)` where a set lacks the slot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// Variant under the old set.
    pub from: String,
    /// Variant under the new set (the same id when only its content changed).
    pub to: String,
    /// How many views.
    pub views: usize,
}

/// The replay of a sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replay {
    /// Views replayed.
    pub views: usize,
    /// Views the pipeline refused (an invalid URL, a personal visitor id…), not counted above.
    pub skipped: usize,
    /// Per slot, in slot id order.
    pub slots: Vec<SlotReplay>,
}

const NONE: &str = "(none)";

/// Views by `(old variant, new variant)`.
type Moves = BTreeMap<(String, String), usize>;

/// What a slot shows under one decision: variant id and content bytes.
fn shown<'a>(d: &'a Decision<'_>) -> BTreeMap<&'a str, (&'a str, &'a str)> {
    d.slots
        .iter()
        .map(|s| (s.slot.id.as_str(), (s.variant.id.as_str(), s.variant.content.get())))
        .collect()
}

/// Runs every view of `sample` through `pipeline` and decides it on `old` and `new`.
pub fn replay(pipeline: &Pipeline<'_>, old: &RuleSet, new: &RuleSet, sample: &[SampleView]) -> Replay {
    let now = UNIX_EPOCH + REPLAY_AT;
    let slot_ids: BTreeSet<&str> = old.slots.iter().chain(&new.slots).map(|s| s.id.as_str()).collect();
    let mut counts: BTreeMap<&str, (usize, Moves)> = slot_ids.iter().map(|id| (*id, (0, Moves::new()))).collect();
    let (mut views, mut skipped) = (0, 0);
    for s in sample {
        let request = s.request();
        let Ok(view) = pipeline.view(request.input(now, None)) else {
            skipped += 1;
            continue;
        };
        views += 1;
        let (a, b) = (view.decide(old, None), view.decide(new, None));
        let (a, b) = (shown(&a), shown(&b));
        for (slot, (seen, moves)) in counts.iter_mut() {
            *seen += 1;
            let (was, is) = (a.get(slot), b.get(slot));
            if was == is {
                continue;
            }
            let from = was.map_or(NONE, |v| v.0).to_string();
            let to = is.map_or(NONE, |v| v.0).to_string();
            *moves.entry((from, to)).or_insert(0) += 1;
        }
    }
    let slots = counts
        .into_iter()
        .map(|(slot, (seen, moves))| {
            let mut transitions: Vec<Transition> = moves
                .into_iter()
                .map(|((from, to), views)| Transition { from, to, views })
                .collect();
            transitions.sort_by(|x, y| {
                y.views
                    .cmp(&x.views)
                    .then_with(|| (&x.from, &x.to).cmp(&(&y.from, &y.to)))
            });
            SlotReplay {
                slot: slot.to_string(),
                views: seen,
                changed: transitions.iter().map(|t| t.views).sum(),
                transitions,
            }
        })
        .collect();
    Replay { views, skipped, slots }
}

/// Values the rules' conditions name, by what a generated view varies.
#[derive(Default)]
struct Named {
    hosts: BTreeSet<String>,
    paths: BTreeSet<String>,
    /// `(utm parameter, value)`
    campaigns: BTreeSet<(&'static str, String)>,
    referrers: BTreeSet<String>,
    categories: BTreeSet<String>,
    session_categories: BTreeSet<String>,
}

/// The literal values a test accepts (regular expressions and numbers are left out).
fn literals(op: &Op) -> Vec<&str> {
    match op {
        Op::TextEq(v) | Op::StartsWith(v) | Op::EndsWith(v) | Op::Contains(v) => vec![v.as_str()],
        Op::TextIn(vs) | Op::ListAnyIn(vs) => vs.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

fn collect(c: &Condition, out: &mut Named) {
    match c {
        Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| collect(c, out)),
        Condition::Not(c) => collect(c, out),
        Condition::Test(t) => {
            for v in literals(&t.op) {
                let v = v.to_string();
                match t.signal {
                    SignalId::PageHost | SignalId::Site if !v.is_empty() => {
                        out.hosts.insert(v);
                    }
                    SignalId::PagePath if v.starts_with('/') => {
                        out.paths.insert(v);
                    }
                    SignalId::CampaignName => {
                        out.campaigns.insert(("utm_campaign", v));
                    }
                    SignalId::CampaignSource => {
                        out.campaigns.insert(("utm_source", v));
                    }
                    SignalId::CampaignMedium => {
                        out.campaigns.insert(("utm_medium", v));
                    }
                    SignalId::ReferrerHost if !v.is_empty() => {
                        out.referrers.insert(v.trim_matches('.').to_string());
                    }
                    SignalId::PageCategory => {
                        out.categories.insert(v);
                    }
                    SignalId::SessionCategories => {
                        out.session_categories.insert(v);
                    }
                    _ => {}
                }
            }
        }
    }
}

/// What varies a generated view besides its path.
enum Context {
    Plain,
    Campaign(&'static str, String),
    Referrer(String),
    Category(String),
    Session(String),
}

/// A visitor id that looks random (the pipeline refuses ids that do not), fixed by its number.
fn visitor_id(i: usize) -> String {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(format!("personify-diff-visitor-{i}").as_bytes()));
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A sample from what the conditions of both sets name: every path (and `/`) alone and with each
/// campaign, referrer, page category and session category, each seen by [`VISITORS_PER_VIEW`]
/// visitors. The same sets give the same sample.
pub fn generated(old: &RuleSet, new: &RuleSet) -> Vec<SampleView> {
    let mut named = Named::default();
    for s in old.segments.iter().chain(&new.segments) {
        collect(&s.when, &mut named);
    }
    let host = named
        .hosts
        .iter()
        .find(|h| h.contains('.') && !h.starts_with('.'))
        .cloned()
        .unwrap_or_else(|| "www.example.com".to_string());
    named.paths.insert("/".to_string());
    let contexts: Vec<Context> = std::iter::once(Context::Plain)
        .chain(named.campaigns.iter().map(|(k, v)| Context::Campaign(k, v.clone())))
        .chain(named.referrers.iter().map(|r| Context::Referrer(r.clone())))
        .chain(named.categories.iter().map(|c| Context::Category(c.clone())))
        .chain(named.session_categories.iter().map(|c| Context::Session(c.clone())))
        .collect();
    let mut out = Vec::new();
    let mut n = 0;
    'views: for path in &named.paths {
        for context in &contexts {
            if n == MAX_GENERATED {
                break 'views;
            }
            n += 1;
            // A literal that makes no URL (a host fragment, a path with spaces) is refused by the
            // pipeline and counted as skipped.
            let mut url = format!("https://{host}{path}");
            let mut view = SampleView::default();
            match context {
                Context::Plain => {}
                Context::Campaign(k, v) => {
                    let query: String = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair(k, v)
                        .finish();
                    url = format!("{url}?{query}");
                }
                Context::Referrer(r) => view.page.referrer = Some(format!("https://{r}/")),
                Context::Category(c) => view.page.category = Some(c.clone()),
                Context::Session(c) => {
                    view.session = Some(SampleSession {
                        pages_viewed: 2,
                        categories: vec![c.clone()],
                        returning: false,
                    })
                }
            }
            view.page.url = url;
            for _ in 0..VISITORS_PER_VIEW {
                out.push(SampleView {
                    visitor_id: Some(visitor_id(out.len())),
                    ..view.clone()
                });
            }
        }
    }
    out
}

/// Parses an NDJSON sample; blank lines are skipped. An error names the line and the field, never
/// the value.
pub fn parse_sample(text: &str) -> Result<Vec<SampleView>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let de = &mut serde_json::Deserializer::from_str(line);
        match serde_path_to_error::deserialize::<_, SampleView>(de) {
            Ok(v) => out.push(v),
            Err(e) => {
                let what = match e.inner().classify() {
                    serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not JSON",
                    _ => "not a /v1/decide body",
                };
                return Err(format!("line {}: {what} (at `{}`)", i + 1, e.path()));
            }
        }
    }
    Ok(out)
}
