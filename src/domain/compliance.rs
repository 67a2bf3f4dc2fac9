//! The record of processing (in the spirit of GDPR art. 30), generated from the running rules,
//! configuration and store — never written by hand, so it cannot drift from what the server does.

use serde::Serialize;

use crate::domain::rules::RuleSet;

/// Who is responsible for the processing, from configuration.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Controller {
    /// Legal name of the controller.
    pub name: String,
    /// Where data subjects and authorities reach the controller.
    pub contact: String,
    /// The data protection officer's contact, if one is appointed.
    pub dpo_contact: String,
}

/// What the store reports about consent.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ConsentCounts {
    /// Entries in the consent log.
    pub log_entries: i64,
    /// Visitors with a current explicit record.
    pub current_records: i64,
    /// Of those, opt-outs.
    pub opt_outs: i64,
    /// Tree size of the newest signed checkpoint of the log.
    pub latest_checkpoint: Option<u64>,
    /// The log's verifier key (`name+id+base64`), as at `/v1/consent/log/public-key`.
    pub public_key: String,
    /// The newest verification of the log (at start, and each `/v1/admin/consent/verify`).
    pub last_verification: Option<LastVerification>,
}

/// The verdict of the newest verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastVerification {
    /// `consistent`, `behind_checkpoint` or `inconsistent`.
    pub state: String,
    /// Problems found.
    pub problems: u64,
    /// When it ran (RFC 3339).
    pub at: String,
}

/// Everything the record is built from, besides the rules.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The controller.
    pub controller: Controller,
    /// `privacy.k`.
    pub k: u64,
    /// `privacy.epsilon`.
    pub epsilon: f64,
    /// `privacy.retention_days`.
    pub retention_days: u32,
    /// `sqlite` or `postgres`.
    pub store_kind: &'static str,
    /// Consent log and record counts.
    pub consent: ConsentCounts,
    /// Age in hours of each daily salt still held.
    pub salt_ages_hours: Vec<i64>,
    /// Countries with the opt-in default.
    pub opt_in_countries: Vec<String>,
}

/// One purpose and what relies on it.
#[derive(Debug, Serialize)]
pub struct Purpose {
    /// `personalize`, `measure` or `advertise`.
    pub id: &'static str,
    /// What is done under it.
    pub description: &'static str,
    /// The legal basis, per jurisdiction default.
    pub legal_basis: &'static str,
    /// TCF purposes that grant it (any one of the listed sets).
    pub tcf_purposes: Vec<Vec<u8>>,
    /// Segments whose use depends on it.
    pub segments: Vec<String>,
}

/// One segment as a compliance reviewer needs to see it.
#[derive(Debug, Serialize)]
pub struct SegmentRecord {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The signals its condition reads.
    pub signals: Vec<&'static str>,
    /// Reads the on-device session summary (a profile in TCF terms: needs purposes 3/4 or 5/6).
    pub reads_session_summary: bool,
    /// The special category or life event, when sensitive.
    pub sensitive: Option<String>,
    /// IAB Audience Taxonomy ids released to RTB (never for sensitive segments).
    pub audience_taxonomy: Vec<String>,
    /// IAB Content Taxonomy ids.
    pub content_taxonomy: Vec<String>,
    /// TCF purposes it needs to personalise, per the segment's kind.
    pub tcf_purposes_to_personalize: Vec<Vec<u8>>,
    /// Where it is defined (`file:line`).
    pub defined_at: String,
}

/// One slot: what content it can show, and to which segments (a reviewer checks what a sensitive
/// segment's visitors receive).
#[derive(Debug, Serialize)]
pub struct SlotRecord {
    /// Id.
    pub id: String,
    /// What the slot is for.
    pub description: String,
    /// The variant everyone else gets (and an experiment's holdout).
    pub default: String,
    /// Every variant id.
    pub variants: Vec<String>,
    /// Per segment with a rule here: a fixed variant, or an experiment.
    pub shown: Vec<Shown>,
}

/// What a slot shows one segment.
#[derive(Debug, Serialize)]
pub struct Shown {
    /// The segment.
    pub segment: String,
    /// A fixed variant, when not an experiment.
    pub variant: Option<String>,
    /// The experiment that picks the variant, when there is one.
    pub experiment: Option<String>,
}

/// One table of the store.
#[derive(Debug, Serialize)]
pub struct Table {
    /// Table name.
    pub table: &'static str,
    /// What it holds.
    pub holds: &'static str,
    /// Whether anything in it relates to a person, and how.
    pub personal_data: &'static str,
    /// How long rows are kept.
    pub retention: String,
}

/// The whole record.
#[derive(Debug, Serialize)]
pub struct Record {
    /// The controller.
    pub controller: Controller,
    /// Purposes, bases and dependants.
    pub purposes: Vec<Purpose>,
    /// Per segment: signals, sensitivity, RTB ids.
    pub segments: Vec<SegmentRecord>,
    /// Per slot: variants and which segment gets which.
    pub slots: Vec<SlotRecord>,
    /// The rules version the record describes.
    pub rules_version: String,
    /// Release thresholds.
    pub release: Release,
    /// The store holding it all: `sqlite` (one file) or `postgres` (shared by nodes).
    pub store: &'static str,
    /// What is stored, where, for how long.
    pub data_inventory: Vec<Table>,
    /// Never stored or logged anywhere.
    pub never_stored: Vec<&'static str>,
    /// Consent counts.
    pub consent: ConsentCounts,
    /// Daily salts currently held.
    pub salts: Salts,
    /// Countries with the opt-in default.
    pub opt_in_countries: Vec<String>,
}

/// Release thresholds.
#[derive(Debug, Serialize)]
pub struct Release {
    /// Minimum distinct visitors and distinct networks for any released number.
    pub k: u64,
    /// Discrete Laplace noise per released count (0 = off).
    pub epsilon: f64,
}

/// The daily salts held.
#[derive(Debug, Serialize)]
pub struct Salts {
    /// How many.
    pub held: usize,
    /// Age of the oldest, in hours (alert above 48).
    pub oldest_age_hours: Option<i64>,
}

const CONSENT_OR_OPT_OUT: &str = "consent (GDPR art. 6(1)(a), ePrivacy art. 5(3)) in opt-in jurisdictions; elsewhere processing until the visitor objects (opt-out, GPC)";

/// Builds the record from the active rules and the inputs.
pub fn record(rules: &RuleSet, inputs: Inputs) -> Record {
    let ids = |f: &dyn Fn(&crate::domain::rules::Segment) -> bool| -> Vec<String> {
        rules.segments.iter().filter(|s| f(s)).map(|s| s.id.clone()).collect()
    };
    let purposes = vec![
        Purpose {
            id: "personalize",
            description: "Choose which content variant each page slot shows from the segment the current page view is inferred to belong to.",
            legal_basis: CONSENT_OR_OPT_OUT,
            tcf_purposes: vec![vec![11], vec![5, 6]],
            segments: ids(&|_| true),
        },
        Purpose {
            id: "measure",
            description: "Count page views and segment members as aggregates (HyperLogLog sketches and counters), and experiment exposures and conversions exactly as per-experiment pseudonymous units; release only computed-once numbers above k.",
            legal_basis: CONSENT_OR_OPT_OUT,
            tcf_purposes: vec![vec![8], vec![9]],
            segments: ids(&|_| true),
        },
        Purpose {
            id: "advertise",
            description: "Release IAB audience taxonomy ids of k-anonymous, non-sensitive segments to ad integrations (OpenRTB user.data).",
            legal_basis: CONSENT_OR_OPT_OUT,
            tcf_purposes: vec![vec![2], vec![3, 4]],
            segments: ids(&|s| s.sensitive.is_none() && !s.audience_taxonomy.is_empty()),
        },
    ];
    let segments = rules
        .segments
        .iter()
        .map(|s| {
            let mut signals = Vec::new();
            s.when.for_each_signal(&mut |id| {
                if !signals.contains(&id.name()) {
                    signals.push(id.name());
                }
            });
            signals.sort_unstable();
            SegmentRecord {
                id: s.id.clone(),
                name: s.name.clone(),
                signals,
                reads_session_summary: s.session_based,
                sensitive: s.sensitive.clone(),
                audience_taxonomy: if s.sensitive.is_some() {
                    Vec::new()
                } else {
                    s.audience_taxonomy.clone()
                },
                content_taxonomy: s.content_taxonomy.clone(),
                tcf_purposes_to_personalize: if s.session_based {
                    vec![vec![5, 6]]
                } else {
                    vec![vec![11], vec![5, 6]]
                },
                defined_at: s.defined_at.clone(),
            }
        })
        .collect();
    let oldest = inputs.salt_ages_hours.iter().copied().max();
    Record {
        controller: inputs.controller,
        purposes,
        segments,
        slots: slots(rules),
        rules_version: rules.version.clone(),
        store: inputs.store_kind,
        release: Release {
            k: inputs.k,
            epsilon: inputs.epsilon,
        },
        data_inventory: data_inventory(inputs.retention_days),
        never_stored: vec![
            "IP addresses",
            "User-Agent strings",
            "visitor ids",
            "URL query strings (beyond allow-listed campaign keys)",
            "TC, GPP and US privacy strings",
            "request bodies and free text",
        ],
        consent: inputs.consent,
        salts: Salts {
            held: inputs.salt_ages_hours.len(),
            oldest_age_hours: oldest,
        },
        opt_in_countries: inputs.opt_in_countries,
    }
}

fn slots(rules: &RuleSet) -> Vec<SlotRecord> {
    let variant =
        |slot: &crate::domain::rules::Slot, i: usize| slot.variants.get(i).map(|v| v.id.clone()).unwrap_or_default();
    rules
        .slots
        .iter()
        .map(|slot| SlotRecord {
            id: slot.id.clone(),
            description: slot.description.clone(),
            default: variant(slot, slot.default),
            variants: slot.variants.iter().map(|v| v.id.clone()).collect(),
            shown: slot
                .rules
                .iter()
                .map(|r| {
                    let segment = rules.segments.get(r.segment).map(|s| s.id.clone()).unwrap_or_default();
                    match &r.action {
                        crate::domain::rules::Action::Variant(v) => Shown {
                            segment,
                            variant: Some(variant(slot, *v)),
                            experiment: None,
                        },
                        crate::domain::rules::Action::Experiment(e) => Shown {
                            segment,
                            variant: None,
                            experiment: Some(e.id.clone()),
                        },
                    }
                })
                .collect(),
        })
        .collect()
}

/// Every table of the store, what it holds and for how long.
pub fn data_inventory(days: u32) -> Vec<Table> {
    vec![
        Table {
            table: "secrets",
            holds: "the random HMAC secret that keys visitor ids",
            personal_data: "none",
            retention: "until rotated by the operator".into(),
        },
        Table {
            table: "daily_salts",
            holds: "one random salt per UTC day for cookieless keys",
            personal_data: "none; deleting it unlinks that day's cookieless keys",
            retention: "48 hours after the day begins".into(),
        },
        Table {
            table: "network_salts",
            holds: "one random salt per ISO week for network keys (the k threshold's second count)",
            personal_data: "none; deleting it unlinks that week's network keys",
            retention: "until the week is over".into(),
        },
        Table {
            table: "admin_audit",
            holds: "admin actions: which token (by its configured name) minted a preview, exported or verified the consent log, and when",
            personal_data: "the configured names of admin tokens; nothing about visitors",
            retention: "kept; the operator prunes it".into(),
        },
        Table {
            table: "last_good_rules",
            holds: "the files of the last rule set that loaded, served if a node's rules directory does not load",
            personal_data: "none (rule files written by the team)",
            retention: "replaced by the next rule set that loads".into(),
        },
        Table {
            table: "consent_records",
            holds: "each visitor's current choice, as /v1/decide enforces it; after an erasure, only a suppression marker for an opt-out",
            personal_data: "keyed hash of the visitor id (pseudonymous), purposes, source, policy version, time",
            retention: "while the visitor's choice stands; erasure leaves a suppression marker (opt-out) or nothing (after 24 h)".into(),
        },
        Table {
            table: "consent_leaves",
            holds: "every choice as a Merkle log leaf, append-only, as proof of consent (art. 7(1)); commits to the visitor only through SHA-256(nonce ‖ keyed hash)",
            personal_data: "none on its own: purposes, source, policy version, time and a commitment nobody can link without consent_subjects",
            retention: "for as long as proof of consent is needed (the log cannot shrink without breaking every checkpoint)".into(),
        },
        Table {
            table: "consent_subjects",
            holds: "the link from each log leaf to its visitor: keyed hash and nonce",
            personal_data: "keyed hash of the visitor id (pseudonymous)",
            retention: "until the visitor asks for erasure (POST /v1/consent/erase deletes their rows)".into(),
        },
        Table {
            table: "consent_subtrees",
            holds: "hashes of complete Merkle subtrees, from which inclusion and consistency proofs are built",
            personal_data: "none (hashes of hashes)",
            retention: "as long as the leaves".into(),
        },
        Table {
            table: "consent_checkpoints",
            holds: "signed tree heads of the consent log (also written to consent.checkpoint_dir)",
            personal_data: "none",
            retention: "kept".into(),
        },
        Table {
            table: "consent_log",
            holds: "the hash-chained log of versions before the Merkle log; converted into consent_leaves at first start and dropped",
            personal_data: "keyed hash of the visitor id (pseudonymous), purposes, source, policy version, time",
            retention: "none: dropped once converted".into(),
        },
        Table {
            table: "sketches",
            holds: "HyperLogLog sketches of visitor and network keys per segment, experiment arm and goal per UTC day",
            personal_data: "probabilistic registers of keyed hashes; no key can be read back",
            retention: format!("{days} days (privacy.retention_days)"),
        },
        Table {
            table: "counters",
            holds: "page-view counts per segment per UTC day",
            personal_data: "none (aggregate integers)",
            retention: format!("{days} days (privacy.retention_days)"),
        },
        Table {
            table: "experiment_units",
            holds: "the units exposed to each experiment arm and converting on each goal, per analysis period: 64-bit keyed hashes of first-party visitors under a per-experiment key",
            personal_data: "pseudonymous: a unit stands for one visitor within one experiment (erased by /v1/consent/erase)",
            retention: format!("{days} days from the day a unit was first counted (privacy.retention_days)"),
        },
        Table {
            table: "experiment_periods",
            holds: "each experiment's analysis periods: number, configuration fingerprint, start time",
            personal_data: "none",
            retention: "as long as the deployment keeps them".into(),
        },
        Table {
            table: "releases",
            holds: "every released report number (a cell), computed once: value, release number and the support it was released at",
            personal_data: "none (aggregates above k)",
            retention: format!("{days} days from release (privacy.retention_days)"),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Table names created by a migrations directory.
    fn created_tables(dir: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut out = Vec::new();
        for f in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
            for part in text.split("CREATE TABLE").skip(1) {
                let name = part.trim_start().trim_start_matches("IF NOT EXISTS").trim_start();
                out.push(
                    name.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap()
                        .to_string(),
                );
            }
        }
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn the_inventory_names_every_table_the_migrations_create() {
        let listed: Vec<&str> = data_inventory(395).iter().map(|t| t.table).collect();
        for dir in ["migrations/sqlite", "migrations/postgres"] {
            for table in created_tables(dir) {
                assert!(
                    listed.contains(&table.as_str()),
                    "{dir} creates {table}, which the record of processing omits"
                );
            }
        }
    }
}
