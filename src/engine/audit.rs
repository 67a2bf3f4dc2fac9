//! The audit trail of admin actions: which token (by its configured name) did what, and when. Only
//! closed-set values are recorded, never a request value. Every admin action that changes what
//! visitors get or reads personal records calls [`record`].

use std::sync::Arc;

use crate::store::{AuditEntry, AuditRecords, Store, StoreError};

/// An admin action worth recording; stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    /// A preview token was minted.
    PreviewMinted,
    /// The consent log was exported (a page of `/v1/admin/consent/log`).
    ConsentExported,
    /// The consent log's chain was verified.
    ConsentVerified,
    /// The rules were reloaded (the directory loaded; the version may be unchanged).
    RulesReloaded,
    /// A reload was refused: the directory did not load and the active set kept serving.
    RulesReloadFailed,
    /// A visitor's consent data was erased.
    ConsentErased,
    /// An experiment's analysis period started: its bucketing, an arm's content or its segment's
    /// condition changed (`docs/reports.md`). The actor is `rules`.
    ExperimentPeriodStarted,
}

impl Action {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Records that `actor` (a token's configured name) did `action`, durably, before the action's
/// answer goes out: an action the trail cannot hold is refused by the caller.
pub async fn record(store: &(impl AuditRecords + ?Sized), actor: &str, action: Action) -> Result<(), StoreError> {
    store.append_audit(actor, action.as_str()).await.map(|_| ())
}

/// The trail as a service: what the admin routes record and page through.
pub struct AuditTrail {
    store: Arc<dyn Store>,
}

impl AuditTrail {
    /// The trail kept in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        AuditTrail { store }
    }

    /// Records `action` by `actor` durably; see [`record`].
    pub async fn record(&self, actor: &str, action: Action) -> Result<(), StoreError> {
        record(self.store.as_ref(), actor, action).await
    }

    /// Up to `limit` entries after id `after`, oldest first.
    pub async fn page(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        self.store.audit_log(after, limit).await
    }
}
