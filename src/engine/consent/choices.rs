//! The consent use cases: give, opt out, status and erase. Each choice is made durable in the log
//! first; the in-memory book learns only of what the store has committed. Why the log works this
//! way: `docs/decisions/002-consent-ledger.md`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;

use crate::domain::consent::{ConsentBook, Purposes, Record};
use crate::domain::ledger::entry::{Action, Change, Entry, ReceiptId};
use crate::domain::privacy::{ConsentSubject, Keyring, VisitorId};
use crate::engine::audit::{self, AuditTrail};
use crate::engine::consent::position::LogPosition;
use crate::engine::counter::Counts;
use crate::engine::ledger::node::Ledger;
use crate::metrics::{ActionLabel, Metrics};
use crate::store::StoreError;

/// `source` of an opt-out or erasure that names none: a constant, not request text.
const DEFAULT_SOURCE: &str = "api";

/// Why a choice was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// A value outside its configured closed set (never repeated back).
    #[error("{field} must be one of {allowed} ({key})")]
    NotInSet {
        /// The request field.
        field: &'static str,
        /// The allowed values, comma-separated.
        allowed: String,
        /// The configuration key that lists them.
        key: &'static str,
    },
    /// The store could not take or give the entries.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An erasure produced no entry (no subject to erase under).
    #[error("the erasure was not recorded")]
    NotRecorded,
}

/// A visitor's current choice and every entry still linked to them.
#[derive(Debug)]
pub struct Status {
    /// The enforced record, if any.
    pub record: Option<Record>,
    /// Entries in log order.
    pub entries: Vec<Entry>,
}

/// What an erasure did.
#[derive(Debug)]
pub struct Erasure {
    /// Entries unlinked from the visitor.
    pub entries: u64,
    /// Whether an opt-out stays honoured through a suppression marker.
    pub suppressed: bool,
    /// The erasure's own entry (its receipt).
    pub entry: Entry,
}

/// Records and answers visitors' consent choices.
pub struct Choices {
    keyring: Arc<Keyring>,
    book: Arc<ConsentBook>,
    position: Arc<LogPosition>,
    ledger: Arc<Ledger>,
    trail: Arc<AuditTrail>,
    counts: Arc<Counts>,
    metrics: Arc<Metrics>,
    sources: Vec<String>,
    policy_versions: Vec<String>,
}

/// What [`Choices`] is built from.
pub struct ChoicesParts {
    /// Key material for consent subjects.
    pub keyring: Arc<Keyring>,
    /// The enforced records, in memory.
    pub book: Arc<ConsentBook>,
    /// How far into the log the book is (a write here may move it).
    pub position: Arc<LogPosition>,
    /// The consent log.
    pub ledger: Arc<Ledger>,
    /// The admin audit trail (erasures are recorded there).
    pub trail: Arc<AuditTrail>,
    /// Counting, whose experiment units an erasure deletes.
    pub counts: Arc<Counts>,
    /// Operational metrics.
    pub metrics: Arc<Metrics>,
    /// `consent.sources`.
    pub sources: Vec<String>,
    /// `consent.policy_versions`.
    pub policy_versions: Vec<String>,
}

impl Choices {
    /// The use cases over these parts.
    pub fn new(p: ChoicesParts) -> Self {
        Choices {
            keyring: p.keyring,
            book: p.book,
            position: p.position,
            ledger: p.ledger,
            trail: p.trail,
            counts: p.counts,
            metrics: p.metrics,
            sources: p.sources,
            policy_versions: p.policy_versions,
        }
    }

    /// `POST /v1/consent`: records `purposes` for the visitor.
    pub async fn give(
        &self,
        id: &VisitorId,
        purposes: Purposes,
        source: &str,
        policy_version: &str,
    ) -> Result<Entry, ConsentError> {
        let source = one_of("source", source, &self.sources, "consent.sources")?;
        let policy_version = one_of(
            "policy_version",
            policy_version,
            &self.policy_versions,
            "consent.policy_versions",
        )?;
        let subject = self.keyring.consent_subject(id);
        self.record(subject, Action::Consent, purposes, source, policy_version)
            .await
    }

    /// `POST /v1/opt-out`: records an opt-out of everything.
    pub async fn opt_out(&self, id: &VisitorId, source: Option<&str>) -> Result<Entry, ConsentError> {
        let source = self.source_or_default(source)?;
        let subject = self.keyring.consent_subject(id);
        self.record(subject, Action::OptOut, Purposes::NONE, source, "-".into())
            .await
    }

    /// `POST /v1/consent/status`: the enforced record and every linked entry.
    pub async fn status(&self, id: &VisitorId) -> Result<Status, ConsentError> {
        let mut entries = Vec::new();
        for subject in self.subjects_of(id) {
            entries.extend(self.ledger.entries_for(&subject).await?);
        }
        entries.sort_by_key(|e| e.index);
        Ok(Status {
            record: self.book.lookup(&self.keyring, id),
            entries,
        })
    }

    /// `POST /v1/consent/erase`: unlinks the visitor from their entries (GDPR art. 17) under every
    /// subject they may have, keeps an opt-out honoured, and records who asked in the audit trail.
    pub async fn erase(&self, id: &VisitorId, source: Option<&str>, actor: &str) -> Result<Erasure, ConsentError> {
        let source = self.source_or_default(source)?;
        let (mut erased, mut suppressed, mut first) = (0, false, None);
        // Experiment units first: if they cannot be deleted nothing is recorded and a retry
        // starts over.
        for subject in self.unit_subjects_of(id) {
            self.counts.erase_units(&subject).await?;
        }
        for subject in self.subjects_of(id) {
            let erasure = change(subject, Action::Erasure, Purposes::NONE, source.clone(), "-".into());
            let done = self.ledger.erase(&subject, erasure).await?;
            if done.suppressed {
                self.book.put(
                    &subject,
                    Record {
                        purposes: Purposes::NONE,
                        opted_out: true,
                        recorded_at: done.entry.recorded_at,
                    },
                );
            } else {
                self.book.remove(&subject);
            }
            self.position.wrote(done.entry.index);
            erased += done.entries;
            suppressed |= done.suppressed;
            first.get_or_insert(done.entry);
        }
        let entry = first.ok_or(ConsentError::NotRecorded)?;
        self.trail.record(actor, audit::Action::ConsentErased).await?;
        Ok(Erasure {
            entries: erased,
            suppressed,
            entry,
        })
    }

    async fn record(
        &self,
        subject: ConsentSubject,
        action: Action,
        purposes: Purposes,
        source: String,
        policy_version: String,
    ) -> Result<Entry, ConsentError> {
        let entry = self
            .ledger
            .append(change(subject, action, purposes, source, policy_version))
            .await?;
        self.metrics
            .consent_writes
            .get_or_create(&ActionLabel {
                action: action.as_str(),
            })
            .inc();
        self.book.put(
            &subject,
            Record {
                purposes,
                opted_out: action == Action::OptOut,
                recorded_at: entry.recorded_at,
            },
        );
        self.position.wrote(entry.index);
        Ok(entry)
    }

    fn source_or_default(&self, source: Option<&str>) -> Result<String, ConsentError> {
        match source {
            Some(s) => one_of("source", s, &self.sources, "consent.sources"),
            None => Ok(DEFAULT_SOURCE.to_string()),
        }
    }

    /// The subjects a visitor's entries may be under: the current secret's, and an earlier
    /// generation's where the book holds a record (after a rotation).
    /// Every subject a visitor's experiment units may derive from: under the current secret and
    /// each previous one, whether or not consent was recorded under it.
    fn unit_subjects_of(&self, id: &VisitorId) -> Vec<ConsentSubject> {
        let mut out = vec![self.keyring.consent_subject(id)];
        out.extend(self.keyring.previous_consent_subjects(id));
        out
    }

    fn subjects_of(&self, id: &VisitorId) -> Vec<ConsentSubject> {
        let mut out = vec![self.keyring.consent_subject(id)];
        out.extend(
            self.keyring
                .previous_consent_subjects(id)
                .filter(|s| self.book.get(s).is_some()),
        );
        out
    }
}

/// A value from a configured closed set; anything else is refused without being repeated.
fn one_of(field: &'static str, v: &str, set: &[String], key: &'static str) -> Result<String, ConsentError> {
    set.iter()
        .find(|allowed| allowed.as_str() == v)
        .cloned()
        .ok_or_else(|| ConsentError::NotInSet {
            field,
            allowed: set.join(", "),
            key,
        })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A change for `subject`, with a fresh receipt id and nonce.
fn change(
    subject: ConsentSubject,
    action: Action,
    purposes: Purposes,
    source: String,
    policy_version: String,
) -> Change {
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    Change {
        receipt_id: ReceiptId::fresh(),
        recorded_at: now_ms(),
        subject,
        nonce,
        action,
        purposes,
        source,
        policy_version,
    }
}
