//! Generations of the visitor-key secret: the newest keys everything new; earlier ones stay only so
//! consent records and opt-outs keyed under them remain enforceable after a rotation
//! (`docs/decisions/003-secret-rotation.md`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::domain::privacy::{utc_day, Keyring, Secret};
use crate::metrics::Metrics;
use crate::store::{Secrets, Store, StoreError};

/// Store name prefix of the generations: `visitor_key_v1`, `visitor_key_v2`, …
pub const PREFIX: &str = "visitor_key_v";

fn generation(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.parse().ok()
}

async fn generations(store: &(impl Secrets + ?Sized)) -> Result<Vec<u32>, StoreError> {
    let mut g: Vec<u32> = store
        .secret_names(PREFIX)
        .await?
        .iter()
        .filter_map(|n| generation(n))
        .collect();
    g.sort_unstable();
    Ok(g)
}

/// The current secret and the earlier generations (newest first); creates the first on a new store.
pub async fn load(store: &(impl Secrets + ?Sized)) -> Result<(Secret, Vec<Secret>), StoreError> {
    let mut gens = generations(store).await?;
    if gens.is_empty() {
        gens.push(1);
    }
    let mut secrets = Vec::with_capacity(gens.len());
    for g in gens.iter().rev() {
        // First writer wins, so nodes starting together on a new store agree on generation 1.
        secrets.push(Secret::from_bytes(
            store
                .secret(&format!("{PREFIX}{g}"), *Secret::generate().expose())
                .await?,
        ));
    }
    let current = secrets.remove(0);
    Ok((current, secrets))
}

/// Creates the next generation; returns its number. Nodes use it from their next start.
pub async fn rotate(store: &(impl Secrets + ?Sized)) -> Result<u32, StoreError> {
    let next = generations(store).await?.last().copied().unwrap_or(1) + 1;
    store
        .secret(&format!("{PREFIX}{next}"), *Secret::generate().expose())
        .await?;
    Ok(next)
}

/// How often salts are refreshed and expired ones purged.
const SALT_TASK_PERIOD: Duration = Duration::from_secs(60);

/// Loads the salts for yesterday (if kept), today and tomorrow, creating today's and tomorrow's, so
/// the keyring never has to invent one at midnight.
pub async fn shared_salts(store: &(impl Secrets + ?Sized), now: SystemTime) -> Result<Vec<(i64, Secret)>, StoreError> {
    let today = utc_day(now);
    let kept = store.salt_days().await?;
    let mut out = Vec::new();
    for day in [today - 1, today, today + 1] {
        if day < today && !kept.contains(&day) {
            continue;
        }
        out.push((
            day,
            Secret::from_bytes(store.salt(day, *Secret::generate().expose()).await?),
        ));
    }
    Ok(out)
}

/// Keeps salts fresh and deletes those older than 48 h.
pub async fn salt_task(store: Arc<dyn Store>, keyring: Arc<Keyring>, metrics: Arc<Metrics>) {
    let mut tick = tokio::time::interval(SALT_TASK_PERIOD);
    loop {
        tick.tick().await;
        let now = SystemTime::now();
        match store.purge_salts_before(utc_day(now) - 1).await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "expired cookieless salts deleted"),
            Ok(_) => {}
            Err(e) => {
                metrics.store_error("purge");
                metrics.purge_failed("salts");
                tracing::warn!(error = %e, "salt purge failed; will retry");
            }
        }
        match shared_salts(store.as_ref(), now).await {
            Ok(salts) => keyring.install_salts(salts),
            Err(e) => {
                metrics.store_error("salt_refresh");
                tracing::warn!(error = %e, "salt refresh failed; keeping the current ones");
            }
        }
    }
}
