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

use crate::domain::ledger::checkpoint::NoteVerifier;
use crate::domain::ledger::entry::Action;
use crate::domain::ledger::fetched::root_keys;
use crate::domain::ledger::frontier::Frontier;
use crate::domain::ledger::leaf::subject_commitment;
use crate::domain::ledger::merkle::{root, Hash};
use crate::store::{ConsentLog, LogRow, StoreError, StoredRecord};

mod facts;
use facts::{key_of, subject_ranges, Fact, Facts};

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
    /// Adds `other`'s problems after these.
    fn extend(&mut self, other: Findings) {
        self.total += other.total;
        let room = MAX_LISTED.saturating_sub(self.listed.len());
        self.listed.extend(other.listed.into_iter().take(room));
    }

    fn add(&mut self, kind: &'static str, index: Option<u64>, detail: String) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push(Problem { kind, index, detail });
        }
    }
}

/// Pages of the log queued for hashing at most.
const AHEAD: usize = 4;

/// Pass 1's state: the tree rebuilt from the leaves, the roots at checkpoint sizes, and each
/// leaf's [`Fact`].
struct Leaves {
    found: Findings,
    tree: Frontier,
    wanted: HashSet<u64>,
    roots_at: HashMap<u64, Hash>,
    facts: Facts,
    erased: u64,
}

impl Leaves {
    fn new(wanted: HashSet<u64>, capacity: usize) -> Leaves {
        Leaves {
            found: Findings::default(),
            tree: Frontier::new(),
            wanted,
            roots_at: HashMap::new(),
            facts: Facts::with_capacity(capacity),
            erased: 0,
        }
    }

    /// Checks one page of entries, the next in log order.
    fn page(&mut self, page: &[LogRow]) {
        let f = &mut self.found;
        for row in page {
            let e = &row.entry;
            let at = self.tree.size();
            if e.index != at {
                f.add(
                    "missing_or_reordered",
                    Some(at),
                    format!(
                        "expected entry {at} but found {} (entries were deleted or reordered)",
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
            let linked = match &row.subject {
                Some((subject, nonce)) => match key_of(subject) {
                    Some(keyed) if subject_commitment(nonce, &keyed) == e.commitment => true,
                    _ => {
                        f.add(
                            "subject_altered",
                            Some(e.index),
                            "the entry's visitor link does not match its commitment".into(),
                        );
                        false
                    }
                },
                None => {
                    self.erased += u64::from(e.action != Action::Erasure);
                    false
                }
            };
            self.facts
                .put(e.index, Fact::new(e.purposes, e.action, linked, e.recorded_at));
            self.tree.push(recomputed.unwrap_or(e.leaf_hash));
            if self.wanted.contains(&self.tree.size()) {
                self.roots_at.insert(self.tree.size(), self.tree.root());
            }
        }
    }
}

/// Lowers the calling thread's priority to the least (nice 19; on Linux a thread's own): the
/// check then runs on what the cores have to spare.
fn lower_priority() {
    #[cfg(unix)]
    // SAFETY: setpriority reads no memory of ours; `0` is the calling thread on Linux (elsewhere
    // the process, which only lowers it). A failure leaves the priority as it was, which is fine.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
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

    // Pass 1: the leaves, in order, rebuilt into a tree. Pages are read here and hashed on a
    // thread of the lowest priority, at most [`AHEAD`] pages behind: the check takes only the CPU
    // that serving leaves, and its memory stays a few pages whatever the log's size.
    let wanted: HashSet<u64> = checkpoints.iter().map(|(s, _)| *s).collect();
    let capacity = usize::try_from(store.consent_size().await?).unwrap_or(0);
    let (pages, mut rx) = tokio::sync::mpsc::channel::<Vec<LogRow>>(AHEAD);
    let (done_tx, done) = tokio::sync::oneshot::channel();
    let worker = {
        let wanted = wanted.clone();
        move || {
            lower_priority();
            let mut leaves = Leaves::new(wanted, capacity);
            while let Some(page) = rx.blocking_recv() {
                leaves.page(&page);
            }
            let _ = done_tx.send(leaves);
        }
    };
    // Without a thread of its own, the check hashes on this task instead.
    let mut inline = std::thread::Builder::new()
        .name("personify-verify".into())
        .spawn(worker)
        .is_err()
        .then(|| Leaves::new(wanted, capacity));
    let mut next = 0u64;
    loop {
        let page = store.consent_log(next, PAGE).await?;
        let more = page.len() as i64 == PAGE;
        let last = page.last().map(|r| r.entry.index);
        match &mut inline {
            Some(leaves) => leaves.page(&page),
            None => {
                if pages.send(page).await.is_err() {
                    break;
                }
            }
        }
        match last {
            Some(last) if more => next = last + 1,
            _ => break,
        }
    }
    drop(pages);
    let Leaves {
        found,
        tree,
        roots_at,
        facts,
        erased,
        ..
    } = match inline {
        Some(leaves) => leaves,
        None => done
            .await
            .map_err(|_| StoreError::Corrupt("the consent log's check stopped before the end".into()))?,
    };
    f.extend(found);
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

    // Pass 3: the enforced records, a range of visitors at a time: each visitor's last linked
    // entry, found from the range's links, against their record.
    let mut checked = 0u64;
    let mut markers = 0u64;
    let mut records = Findings::default();
    let mut missing = Findings::default();
    // Records set by entries appended since pass 1 (the server keeps writing while it verifies):
    // their positions, checked against the log's size at the end.
    let mut newer: Vec<(i64, bool, bool)> = Vec::new();
    for range in subject_ranges(size) {
        // Keyed by the hash's bytes, not its hex: the last entry of each visitor of the range.
        let mut last: HashMap<[u8; 32], u64> = HashMap::new();
        store
            .consent_links(&range, &mut |subject: String, idx: i64| {
                let (Some(keyed), Some(fact)) = (key_of(&subject), facts.get(idx)) else {
                    return;
                };
                if fact.sets_record() {
                    let at = last.entry(keyed).or_insert(idx as u64);
                    *at = (*at).max(idx as u64);
                }
            })
            .await?;
        store
            .consent_records(&range, &mut |r: StoredRecord| {
                if r.pos >= size as i64 {
                    let linked = key_of(&r.subject).is_some_and(|k| last.remove(&k).is_some());
                    newer.push((r.pos, r.erased, linked));
                    return;
                }
                if r.erased {
                    // Enforcement ignores both kinds (`Store::consent_markers`); they are still edits.
                    if key_of(&r.subject).is_some_and(|k| last.remove(&k).is_some()) {
                        records.add(
                            "marker_for_linked_visitor",
                            None,
                            "an erasure marker names a visitor the log still links to entries (an erasure unlinks them all)"
                                .into(),
                        );
                    } else if !facts.get(r.pos).is_some_and(Fact::is_erasure) {
                        records.add(
                            "marker_without_erasure",
                            None,
                            "an erasure marker points at no erasure entry of the log".into(),
                        );
                    } else {
                        markers += u64::from(r.opted_out);
                    }
                    return;
                }
                checked += 1;
                match key_of(&r.subject).and_then(|k| last.remove(&k)) {
                    None => records.add(
                        "record_without_entry",
                        None,
                        "an enforced record has no entry in the log".into(),
                    ),
                    Some(index) if !facts.get(index as i64).is_some_and(|x| x.matches(&r)) => records.add(
                        "record_differs",
                        None,
                        format!("an enforced record differs from its last log entry ({index})"),
                    ),
                    Some(_) => {}
                }
            })
            .await?;
        let mut left: Vec<u64> = last.into_values().collect();
        left.sort_unstable();
        for index in left {
            missing.add(
                "record_missing",
                Some(index),
                "a visitor's last log entry has no enforced record".into(),
            );
        }
    }
    let end = store.consent_size().await?;
    // Beyond the log even now: an edit, reported as the same record would be within it.
    for (pos, erased, linked) in newer.into_iter().filter(|(p, _, _)| *p >= end as i64) {
        let (kind, detail) = match (erased, linked) {
            (true, true) => (
                "marker_for_linked_visitor",
                "an erasure marker names a visitor the log still links to entries (an erasure unlinks them all)",
            ),
            (true, false) => (
                "marker_without_erasure",
                "an erasure marker points at no erasure entry of the log",
            ),
            (false, true) => (
                "record_differs",
                "an enforced record differs from its last log entry (it names an entry beyond the log)",
            ),
            (false, false) => ("record_without_entry", "an enforced record has no entry in the log"),
        };
        records.add(kind, None, format!("{detail} ({pos})"));
    }
    f.extend(records);
    f.extend(missing);

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
