//! Generations of the visitor-key secret: the newest keys everything new; earlier ones stay only so
//! consent records and opt-outs keyed under them remain enforceable after a rotation
//! (`docs/decisions/003-secret-rotation.md`).

use crate::domain::privacy::Secret;
use crate::store::{Secrets, StoreError};

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
