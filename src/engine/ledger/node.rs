//! The consent ledger as one node runs it: the log key, the group-commit writer every append goes
//! through, the checkpoint task, and the proofs served to anyone who asks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::config::ConsentSettings;
use crate::domain::compliance::LastVerification;
use crate::domain::ledger::checkpoint::{Checkpoint, LogKey, NoteVerifier};
use crate::domain::ledger::entry::{Change, Entry};
use crate::domain::ledger::fetched::{consistency_keys, inclusion_keys};
use crate::domain::ledger::merkle::{consistency_proof, inclusion_proof, Hash};
use crate::domain::ledger::offline::{ConsistencyProof, InclusionProof};
use crate::domain::privacy::ConsentSubject;
use crate::engine::ledger::group_commit::{CommitError, GroupCommit, Sink};
use crate::engine::ledger::key::{self, KeyError};
use crate::engine::ledger::verify::Verification;
use crate::store::{Erased, LogRow, Store, StoreError, StoredCheckpoint};

/// Environment variable holding the log key's seed (base64), in place of the key file.
pub const KEY_ENV: &str = crate::config::LOG_KEY_ENV;
/// Name under which the log's public key is pinned in the store: nodes with another key refuse to
/// start.
const PINNED_KEY: &str = "consent_log_public_key";
/// Callers that may wait for a batch at once; beyond it, appends wait for room.
const QUEUE: usize = 8_192;

/// Why the ledger could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The key file or variable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another key signs this log.
    #[error("consent log key: the store's log is signed by another key; give every node the same key (consent.log_key_file or {KEY_ENV})")]
    KeyMismatch,
}

/// Why a proof could not be given.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// No entry has this receipt id.
    #[error("no consent log entry has this receipt id")]
    UnknownReceipt,
    /// The entry is newer than the latest checkpoint.
    #[error("the entry is not yet covered by a checkpoint; retry after the next one")]
    NotCheckpointed,
    /// No checkpoint of the asked size.
    #[error("no checkpoint of that tree size was issued")]
    NoSuchCheckpoint,
    /// Sizes out of order or beyond the log.
    #[error("tree sizes must satisfy 1 <= first <= second <= the log's size")]
    OutOfRange,
    /// The store failed or lacks a subtree it should have.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct StoreSink(Arc<dyn Store>);

impl Sink<Change, Entry, StoreError> for StoreSink {
    async fn commit(&self, items: Vec<Change>) -> Result<Vec<Entry>, StoreError> {
        self.0.append_consent(items).await
    }
}

/// The running ledger.
pub struct Ledger {
    store: Arc<dyn Store>,
    writer: GroupCommit<Change, Entry, StoreError>,
    key: LogKey,
    checkpoint_dir: Option<PathBuf>,
    since_checkpoint: AtomicU64,
    checkpoint_entries: u64,
    kick: Notify,
    last: std::sync::Mutex<Option<LastVerification>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("origin", &self.key.name())
            .finish_non_exhaustive()
    }
}

fn b64(h: &Hash) -> String {
    B64.encode(h)
}

impl Ledger {
    /// Loads the key, pins it in the store, converts an old-format log, and starts the writer and
    /// the checkpoint task. `data_dir` is the store's own directory, if it is a local file.
    pub async fn start(
        settings: &ConsentSettings,
        store: Arc<dyn Store>,
        data_dir: Option<&Path>,
    ) -> Result<Arc<Ledger>, StartError> {
        let env_seed = settings.log_key_seed.as_ref().map(|s| s.expose());
        let key = key::load_or_create(&settings.log_origin, env_seed, &settings.log_key_file, data_dir)?;
        let pin: [u8; 32] = Sha256::digest(key.verifier().vkey().as_bytes()).into();
        if store.secret(PINNED_KEY, pin).await? != pin {
            return Err(StartError::KeyMismatch);
        }
        let converted = store
            .migrate_legacy_log(&settings.sources, &settings.policy_versions)
            .await?;
        if converted > 0 {
            tracing::info!(
                entries = converted,
                "consent log converted from the hash-chain format to the Merkle log"
            );
        }
        let writer = GroupCommit::start(Arc::new(StoreSink(Arc::clone(&store))), settings.write_batch, QUEUE);
        let ledger = Arc::new(Ledger {
            store,
            writer,
            key,
            checkpoint_dir: settings.checkpoint_dir.clone(),
            since_checkpoint: AtomicU64::new(0),
            checkpoint_entries: settings.checkpoint_entries,
            kick: Notify::new(),
            last: std::sync::Mutex::new(None),
        });
        tokio::spawn(checkpoint_task(
            Arc::clone(&ledger),
            Duration::from_secs(settings.checkpoint_seconds),
        ));
        Ok(ledger)
    }

    /// Checks the log and the enforced records against each other in the background, as every
    /// start does: a large log must not delay serving, and an edited table is reported either way.
    /// Called once the consent book is loaded, so the check (which reads the whole log too) does not
    /// halve the cores the load has.
    pub fn verify_in_background(self: &Arc<Self>) {
        let check = Arc::clone(self);
        tokio::spawn(async move {
            match check.verify().await {
                Ok(v) if v.ok => tracing::info!(entries = v.entries, "consent log verified"),
                Ok(v) => tracing::error!(
                    state = ?v.state,
                    problems = v.problems_total,
                    first = v.reason.as_deref().unwrap_or(""),
                    "consent log verification FAILED: see GET /v1/admin/consent/verify"
                ),
                Err(e) => tracing::warn!(error = %e, "consent log verification could not run"),
            }
        });
    }

    /// Appends one change; returns once its batch is durable.
    pub async fn append(&self, change: Change) -> Result<Entry, StoreError> {
        let entry = self.writer.submit(change).await.map_err(|e| match e {
            CommitError::Sink(e) => e,
            CommitError::Closed => StoreError::WriterStopped,
        })?;
        if self.since_checkpoint.fetch_add(1, Ordering::Relaxed) + 1 >= self.checkpoint_entries {
            self.kick.notify_one();
        }
        Ok(entry)
    }

    /// Erases a visitor's consent data (see [`ConsentLog::erase_consent`](crate::store::ConsentLog::erase_consent)).
    pub async fn erase(&self, subject: &ConsentSubject, erasure: Change) -> Result<Erased, StoreError> {
        self.store.erase_consent(subject, erasure).await
    }

    /// Up to `limit` entries from leaf index `from`, with their subjects (the compliance export).
    pub async fn page(&self, from: u64, limit: i64) -> Result<Vec<LogRow>, StoreError> {
        self.store.consent_log(from, limit).await
    }

    /// Every entry still linked to `subject`, in log order.
    pub async fn entries_for(&self, subject: &ConsentSubject) -> Result<Vec<Entry>, StoreError> {
        self.store.consent_log_for(subject).await
    }

    /// Log entries, current records and opt-outs (the record of processing).
    pub async fn counts(&self) -> Result<(i64, i64, i64), StoreError> {
        self.store.consent_counts().await
    }

    /// The public key in `vkey` form.
    pub fn vkey(&self) -> String {
        self.key.verifier().vkey()
    }

    /// The verifier of this log's checkpoints.
    pub fn verifier(&self) -> NoteVerifier {
        self.key.verifier()
    }

    /// Issues a checkpoint now if the log grew since the last one; writes it to the directory.
    pub async fn checkpoint_now(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let origin = self.key.name().to_string();
        let sign = |size: u64, root: Hash| {
            self.key.sign(&Checkpoint {
                origin: origin.clone(),
                size,
                root,
            })
        };
        let issued = self.store.issue_checkpoint(&sign).await?;
        if let Some(c) = &issued {
            self.since_checkpoint.store(0, Ordering::Relaxed);
            if let Some(dir) = &self.checkpoint_dir {
                if let Err(e) = write_note(dir, c) {
                    tracing::error!(error = %e, dir = %dir.display(), "checkpoint could not be written to consent.checkpoint_dir");
                }
            }
        }
        Ok(issued)
    }

    /// The newest signed checkpoint.
    pub async fn latest(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.store.checkpoint(None).await
    }

    /// The inclusion proof of a receipt's entry in the newest checkpoint (or the one of `size`).
    pub async fn inclusion(&self, receipt_id: &str, size: Option<u64>) -> Result<InclusionProof, ProofError> {
        let entry = self
            .store
            .consent_receipt(receipt_id)
            .await?
            .ok_or(ProofError::UnknownReceipt)?;
        let cp = match size {
            Some(s) => self
                .store
                .checkpoint(Some(s))
                .await?
                .ok_or(ProofError::NoSuchCheckpoint)?,
            None => self.store.checkpoint(None).await?.ok_or(ProofError::NotCheckpointed)?,
        };
        if entry.index >= cp.size {
            return Err(match size {
                Some(_) => ProofError::OutOfRange,
                None => ProofError::NotCheckpointed,
            });
        }
        let fetched = self
            .store
            .consent_subtrees(&inclusion_keys(entry.index, cp.size))
            .await?;
        let path = inclusion_proof(&fetched, entry.index, cp.size).map_err(|e| corrupt(&e))?;
        let leaf = entry.leaf_bytes().map_err(StoreError::from)?;
        Ok(InclusionProof {
            leaf_index: entry.index,
            tree_size: cp.size,
            leaf_hash: b64(&entry.leaf_hash),
            audit_path: path.iter().map(b64).collect(),
            leaf: String::from_utf8_lossy(&leaf).into_owned(),
            checkpoint: cp.note,
        })
    }

    /// The consistency proof between two tree sizes.
    pub async fn consistency(&self, first: u64, second: u64) -> Result<ConsistencyProof, ProofError> {
        let size = self.store.consent_size().await?;
        if first == 0 || first > second || second > size {
            return Err(ProofError::OutOfRange);
        }
        let fetched = self.store.consent_subtrees(&consistency_keys(first, second)).await?;
        let proof = consistency_proof(&fetched, first, second).map_err(|e| corrupt(&e))?;
        Ok(ConsistencyProof {
            first,
            second,
            proof: proof.iter().map(b64).collect(),
        })
    }

    /// Verifies the whole log (see [`audit::verify`]), including every checkpoint file kept in
    /// `consent.checkpoint_dir`.
    pub async fn verify(&self) -> Result<Verification, StoreError> {
        let notes = self.checkpoint_dir.as_deref().map(read_notes).unwrap_or_default();
        let v = super::verify::verify(self.store.as_ref(), &self.key.verifier(), &notes).await?;
        let at = crate::domain::ledger::entry::rfc3339(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        );
        if let Ok(mut last) = self.last.lock() {
            *last = Some(LastVerification {
                state: v.state.as_str().to_string(),
                problems: v.problems_total,
                at,
            });
        }
        Ok(v)
    }

    /// The newest verification's verdict.
    pub fn last_verification(&self) -> Option<LastVerification> {
        self.last.lock().ok().and_then(|l| l.clone())
    }
}

fn corrupt(e: &dyn std::fmt::Display) -> ProofError {
    ProofError::Store(StoreError::Corrupt(format!("consent log proof: {e}")))
}

/// File name of a checkpoint: sortable by size.
fn note_name(size: u64) -> String {
    format!("checkpoint-{size:020}.txt")
}

fn write_note(dir: &Path, c: &StoredCheckpoint) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(note_name(c.size));
    let tmp = dir.join(format!(".{}.tmp", note_name(c.size)));
    std::fs::write(&tmp, &c.note)?;
    std::fs::rename(tmp, path)
}

/// The newest checkpoint files in `dir` (at most 1,000), oldest first.
fn read_notes(dir: &Path) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("checkpoint-") && n.ends_with(".txt"))
        })
        .collect();
    names.sort();
    let skip = names.len().saturating_sub(1_000);
    names
        .iter()
        .skip(skip)
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

/// Issues checkpoints every `period` while the log grows, or sooner after `checkpoint_entries`.
async fn checkpoint_task(ledger: Arc<Ledger>, period: Duration) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = ledger.kick.notified() => {}
        }
        match ledger.checkpoint_now().await {
            Ok(Some(c)) => tracing::info!(size = c.size, "consent log checkpoint issued"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "consent log checkpoint failed; will retry"),
        }
    }
}
