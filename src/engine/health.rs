//! What the operations routes ask the store: whether it answers, and which daily salts it holds
//! (a salt a failed purge left behind is what to alert on).

use std::sync::Arc;

use crate::store::{Store, StoreError};

/// The store as the health and metrics routes see it.
pub struct StoreHealth {
    store: Arc<dyn Store>,
}

impl StoreHealth {
    /// Probes `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreHealth { store }
    }

    /// Whether the store answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// The UTC days whose cookieless salts the store still holds.
    pub async fn salt_days(&self) -> Result<Vec<i64>, StoreError> {
        self.store.salt_days().await
    }
}
