//! `verify`: recomputes the whole consent log from what is stored and checks it against itself,
//! against the signed checkpoints, and against the records `/v1/decide` enforces.
//!
//! What each check catches (the attacks are in `tests/it/ledger_attacks.rs`):
//! - a leaf's fields no longer hash to its stored hash: an entry was edited;
//! - an index is missing or out of order: entries were deleted or reordered;
//! - a subject's `SHA-256(nonce ‖ keyed hash)` is not the leaf's commitment: an entry was moved to
//!   another visitor;
//! - the tree rebuilt from the leaves differs from a signed checkpoint of the same size: history was
//!   rewritten and re-hashed (only the log key could sign a matching checkpoint);
//! - a checkpoint's signature does not verify under this node's key: the key or checkpoints were
//!   swapped;
//! - the enforced records differ from the last entry of each visitor: the table was edited.
//!
//! A log shorter than a checkpoint whose prefix still matches is reported as *behind* (a restored
//! backup), not as inconsistent.

use std::collections::{HashMap, HashSet};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Serialize;

use crate::domain::consent::Purposes;
use crate::domain::ledger::checkpoint::NoteVerifier;
use crate::domain::ledger::entry::Action;
use crate::domain::ledger::fetched::root_keys;
use crate::domain::ledger::frontier::Frontier;
use crate::domain::ledger::leaf::subject_commitment;
use crate::domain::ledger::merkle::{root, Hash};
use crate::store::{ConsentLog, StoreError, StoredRecord};

/// Most problems listed (all are counted).
const MAX_LISTED: usize = 100;
/// Entries read per page.
const PAGE: i64 = 1_000;

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum State {
    /// Everything checks out.
    Consistent,
    /// The log is a prefix of a newer checkpoint: entries are missing at the end (a restored backup,
    /// or a truncation), and everything that is there is consistent.
    BehindCheckpoint,
    /// Something was altered.
    Inconsistent,
}

impl State {
    /// As serialised.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What kind of problem.
    pub kind: &'static str,
    /// The log index it concerns, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// In words (never holds a visitor's key).
    pub detail: String,
}

/// The log is behind a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Behind {
    /// The checkpoint's size.
    pub checkpoint_size: u64,
    /// Entries the log lacks.
    pub missing: u64,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Consistent, nothing missing.
    pub ok: bool,
    /// The verdict.
    pub state: State,
    /// Entries in the log.
    pub entries: u64,
    /// Root of the tree rebuilt from the entries, base64.
    pub root: String,
    /// Entries whose visitor link was erased (art. 17); their leaves still verify.
    pub erased_entries: u64,
    /// Enforced records compared with the log.
    pub records_checked: u64,
    /// Records kept only to honour an erased visitor's opt-out.
    pub suppression_markers: u64,
    /// Signed checkpoints checked (the newest in the store and every file in `consent.checkpoint_dir`).
    pub checkpoints_checked: u64,
    /// Largest checkpoint size seen.
    pub latest_checkpoint: Option<u64>,
    /// Set when the log is behind a checkpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behind: Option<Behind>,
    /// Problems found (at most 100 listed).
    pub problems: Vec<Problem>,
    /// All problems found.
    pub problems_total: u64,
    /// The first problem in words, or how far behind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Default)]
struct Findings {
    listed: Vec<Problem>,
    total: u64,
}

impl Findings {
    fn add(&mut self, kind: &'static str, index: Option<u64>, detail: String) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push(Problem { kind, index, detail });
        }
    }
}

/// What the last entry of a visitor says their record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expected {
    index: u64,
    purposes: Purposes,
    opted_out: bool,
    recorded_at: i64,
}

/// The bytes of a stored keyed hash (64 hex digits); `None` for anything else.
fn key_of(subject: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(subject, &mut out).ok().map(|()| out)
}

/// Verifies the log in `store` against itself, `notes` (signed checkpoints from outside the
/// store) and the enforced records.
pub async fn verify(
    store: &(impl ConsentLog + ?Sized),
    key: &NoteVerifier,
    notes: &[String],
) -> Result<Verification, StoreError> {
    let mut f = Findings::default();
    let mut checkpoints: Vec<(u64, Hash)> = Vec::new();
    let mut all_notes: Vec<String> = notes.to_vec();
    if let Some(c) = store.checkpoint(None).await? {
        all_notes.push(c.note);
    }
    for note in &all_notes {
        match key.open(note) {
            Ok(c) => checkpoints.push((c.size, c.root)),
            Err(e) => f.add(
                "checkpoint_signature",
                None,
                format!("a checkpoint does not verify under the log key: {e}"),
            ),
        }
    }
    checkpoints.sort_unstable();
    checkpoints.dedup();

    // Pass 1: the leaves, in order, rebuilt into a tree.
    let mut tree = Frontier::new();
    let mut roots_at: HashMap<u64, Hash> = HashMap::new();
    let wanted: HashSet<u64> = checkpoints.iter().map(|(s, _)| *s).collect();
    // Keyed by the hash's bytes, not its hex: at 10M visitors the map is most of what verify holds.
    let mut expected: HashMap<[u8; 32], Expected> = HashMap::new();
    let mut erased = 0u64;
    // Where the erasures are: a marker that points anywhere else is an edit.
    let mut erasures: HashSet<u64> = HashSet::new();
    let mut next = 0u64;
    loop {
        let page = store.consent_log(next, PAGE).await?;
        for row in &page {
            let e = &row.entry;
            if e.index != tree.size() {
                f.add(
                    "missing_or_reordered",
                    Some(tree.size()),
                    format!(
                        "expected entry {} but found {} (entries were deleted or reordered)",
                        tree.size(),
                        e.index
                    ),
                );
            }
            let recomputed = e.recomputed_hash();
            if recomputed != Some(e.leaf_hash) {
                f.add(
                    "entry_altered",
                    Some(e.index),
                    "the entry's fields no longer hash to its leaf hash".into(),
                );
            }
            match &row.subject {
                Some((subject, nonce)) => match key_of(subject) {
                    Some(keyed) if subject_commitment(nonce, &keyed) == e.commitment => {
                        if e.action != Action::Erasure {
                            expected.insert(
                                keyed,
                                Expected {
                                    index: e.index,
                                    purposes: e.purposes,
                                    opted_out: e.action == Action::OptOut,
                                    recorded_at: e.recorded_at,
                                },
                            );
                        }
                    }
                    _ => f.add(
                        "subject_altered",
                        Some(e.index),
                        "the entry's visitor link does not match its commitment".into(),
                    ),
                },
                None if e.action != Action::Erasure => erased += 1,
                None => {
                    erasures.insert(e.index);
                }
            }
            tree.push(recomputed.unwrap_or(e.leaf_hash));
            if wanted.contains(&tree.size()) {
                roots_at.insert(tree.size(), tree.root());
            }
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => next = last.entry.index + 1,
            _ => break,
        }
    }
    let size = tree.size();

    // The stored subtrees are what proofs are built from: they must give the same tree.
    let fetched = store.consent_subtrees(&root_keys(size)).await?;
    match root(&fetched, size) {
        Ok(r) if r == tree.root() => {}
        _ => f.add(
            "subtrees_altered",
            None,
            "the stored subtree hashes do not give the tree's root".into(),
        ),
    }

    // Pass 2: checkpoints.
    let mut behind = None;
    for (cp_size, cp_root) in &checkpoints {
        if *cp_size > size {
            behind = Some(Behind {
                checkpoint_size: *cp_size,
                missing: cp_size - size,
            });
        } else if roots_at.get(cp_size) != Some(cp_root) {
            f.add(
                "checkpoint_mismatch",
                None,
                format!("the log's first {cp_size} entries do not match the signed checkpoint of that size"),
            );
        }
    }

    // Pass 3: the enforced records.
    let mut checked = 0u64;
    let mut markers = 0u64;
    let mut record_problems: Vec<(&'static str, String)> = Vec::new();
    store
        .consent_records(&mut |r: StoredRecord| {
            if r.erased {
                // Enforcement ignores both kinds (`Store::consent_markers`); they are still edits.
                if key_of(&r.subject).is_some_and(|k| expected.remove(&k).is_some()) {
                    record_problems.push((
                        "marker_for_linked_visitor",
                        "an erasure marker names a visitor the log still links to entries (an erasure unlinks them all)"
                            .into(),
                    ));
                } else if !u64::try_from(r.pos).is_ok_and(|p| erasures.contains(&p)) {
                    record_problems.push((
                        "marker_without_erasure",
                        "an erasure marker points at no erasure entry of the log".into(),
                    ));
                } else {
                    markers += u64::from(r.opted_out);
                }
                return;
            }
            checked += 1;
            match key_of(&r.subject).and_then(|k| expected.remove(&k)) {
                None => record_problems.push((
                    "record_without_entry",
                    "an enforced record has no entry in the log".into(),
                )),
                Some(x) if x.purposes != r.purposes || x.opted_out != r.opted_out || x.recorded_at != r.recorded_at => {
                    record_problems.push((
                        "record_differs",
                        format!("an enforced record differs from its last log entry ({})", x.index),
                    ))
                }
                Some(_) => {}
            }
        })
        .await?;
    for (kind, detail) in record_problems {
        f.add(kind, None, detail);
    }
    for x in expected.values() {
        f.add(
            "record_missing",
            Some(x.index),
            "a visitor's last log entry has no enforced record".into(),
        );
    }

    let state = match (f.total, behind) {
        (0, None) => State::Consistent,
        (0, Some(_)) => State::BehindCheckpoint,
        _ => State::Inconsistent,
    };
    let reason = f
        .listed
        .first()
        .map(|p| p.detail.clone())
        .or_else(|| behind.map(|b| format!("behind checkpoint {} by {} entries", b.checkpoint_size, b.missing)));
    Ok(Verification {
        ok: state == State::Consistent,
        state,
        entries: size,
        root: B64.encode(tree.root()),
        erased_entries: erased,
        records_checked: checked,
        suppression_markers: markers,
        checkpoints_checked: all_notes.len() as u64,
        latest_checkpoint: checkpoints.last().map(|(s, _)| *s),
        behind,
        problems: f.listed,
        problems_total: f.total,
        reason,
    })
}
