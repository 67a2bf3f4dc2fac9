//! Preview tokens for user acceptance testing: a short-lived, signed grant that forces segments
//! and/or slot variants on the page views that carry it, so a marketer can walk every segment's
//! version of the site before it goes live. A previewed view is never counted and never reaches RTB;
//! see `docs/decisions/012-uat-preview-tokens.md`.
//!
//! Token: `base64url(payload) "." base64url(HMAC-SHA256(key, "personify-preview:" ‖ base64url(payload)))`,
//! where the payload is a small JSON object. The key is its own secret in the store, shared by every
//! node and never the consent log's key.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::consent::Consent;
use crate::domain::pageview::decide::{decide_matched, Decision, Reason, SlotDecision};
use crate::domain::privacy::{Secret, VisitorKey};
use crate::domain::rules::{Matches, RuleSet};
use crate::domain::signals::{Signals, Warning};

/// The store's name for the preview key (first writer wins, so every node signs alike).
pub const KEY_NAME: &str = "preview_token_key";
/// Longest life of a preview token: a day.
pub const MAX_LIFETIME_SECS: u64 = 24 * 60 * 60;
/// A token's life when the mint request names none: an hour.
pub const DEFAULT_LIFETIME_SECS: u64 = 60 * 60;
/// Longest token accepted; anything longer is not one of ours and is not decoded.
pub const MAX_TOKEN_LEN: usize = 4096;
/// The request header a preview token may travel in (the SDK sends the body field `preview`).
pub const HEADER: &str = "personify-preview";

const DOMAIN: &[u8] = b"personify-preview:";
const VERSION: u8 = 1;

/// What a preview forces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Segments the view is treated as belonging to (instead of those its signals match); empty:
    /// the view's own segments.
    #[serde(default, rename = "s", skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
    /// Slot id → variant id, winning over any segment's choice.
    #[serde(default, rename = "x", skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, String>,
    /// Unix seconds after which the token is ignored.
    #[serde(rename = "exp")]
    pub expires_at: u64,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    #[serde(flatten)]
    grant: Grant,
}

/// A mint request that cannot become a token, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct GrantError {
    /// Request field at fault.
    pub field: String,
    /// What is wrong, without echoing the value.
    pub message: String,
}

fn grant_error(field: impl Into<String>, message: impl Into<String>) -> GrantError {
    GrantError {
        field: field.into(),
        message: message.into(),
    }
}

/// Why a presented token was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Not a token, or not signed by this installation's key.
    Invalid,
    /// Signed, but past its expiry.
    Expired,
}

impl Rejected {
    /// The warning a page view carrying such a token gets (the token is never echoed).
    pub fn warning(self) -> Warning {
        let message = match self {
            Rejected::Invalid => {
                "the preview token is not valid (malformed, or not signed by this installation); it was ignored"
            }
            Rejected::Expired => "the preview token has expired; it was ignored (mint a new one)",
        };
        Warning {
            code: "preview_ignored",
            field: "preview".into(),
            message: message.into(),
        }
    }
}

fn unix_secs(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Grant {
    /// A grant of `segments` and `variants` for `lifetime_secs` from `now`, checked against the
    /// active rules: every id must exist, something must be forced, and the life is 1 s to 24 h.
    pub fn new(
        rules: &RuleSet,
        segments: Vec<String>,
        variants: BTreeMap<String, String>,
        lifetime_secs: u64,
        now: SystemTime,
    ) -> Result<Grant, GrantError> {
        if !(1..=MAX_LIFETIME_SECS).contains(&lifetime_secs) {
            return Err(grant_error(
                "expires_in_seconds",
                format!("expires_in_seconds must be between 1 and {MAX_LIFETIME_SECS} (24 hours)"),
            ));
        }
        if segments.is_empty() && variants.is_empty() {
            return Err(grant_error(
                "segments",
                "name at least one segment in segments or one slot in variants",
            ));
        }
        for (i, id) in segments.iter().enumerate() {
            if segment_index(rules, id).is_none() {
                return Err(grant_error(
                    format!("segments[{i}]"),
                    format!("segments[{i}] is not a segment of the active rules"),
                ));
            }
            if segments[..i].contains(id) {
                return Err(grant_error(
                    format!("segments[{i}]"),
                    format!("segments[{i}] is named twice"),
                ));
            }
        }
        for (slot_id, variant) in &variants {
            // A slot id is only named back when it is one of the rules' own: never echo request text.
            let Some(slot) = rules.slot(slot_id) else {
                return Err(grant_error(
                    "variants",
                    "variants names a slot that is not in the active rules",
                ));
            };
            if !slot.variants.iter().any(|v| &v.id == variant) {
                return Err(grant_error(
                    format!("variants.{}", slot.id),
                    format!("variants.{} is not a variant of slot {}", slot.id, slot.id),
                ));
            }
        }
        Ok(Grant {
            segments,
            variants,
            expires_at: unix_secs(now).saturating_add(lifetime_secs),
        })
    }

    /// The decision a previewed page view gets: the forced segments (or, without any, those the
    /// signals match) with everything personalised, then the forced variants. Ids the rules no
    /// longer have (a reload since the token was minted) are skipped with a warning.
    pub fn decide<'r>(
        &self,
        rules: &'r RuleSet,
        signals: &Signals,
        key: &VisitorKey,
        only: Option<&[String]>,
    ) -> Decision<'r> {
        let consent = preview_consent();
        let mut stale = false;
        let matches = if self.segments.is_empty() {
            rules.match_segments(signals)
        } else {
            let mut hits: Vec<usize> = Vec::with_capacity(self.segments.len());
            for id in &self.segments {
                match segment_index(rules, id) {
                    Some(i) => hits.push(i),
                    None => stale = true,
                }
            }
            Matches::from_indices(hits)
        };
        let mut decision = decide_matched(rules, Some(matches), &consent, key, only);
        for d in &mut decision.slots {
            let Some(wanted) = self.variants.get(&d.slot.id) else {
                continue;
            };
            match d.slot.variants.iter().find(|v| &v.id == wanted) {
                Some(variant) => {
                    *d = SlotDecision {
                        slot: d.slot,
                        variant,
                        reason: Reason::Preview,
                    }
                }
                None => stale = true,
            }
        }
        stale |= self.variants.keys().any(|s| rules.slot(s).is_none());
        if stale {
            decision.warnings.push(Warning {
                code: "preview_stale",
                field: "preview".into(),
                message:
                    "the preview token names segments or variants the active rules no longer have; they were skipped"
                        .into(),
            });
        }
        decision
    }
}

/// The consent of a previewed view: personalised as the token says (explicitly, so sensitive
/// segments show), never measured, never advertised.
pub fn preview_consent() -> Consent {
    Consent::preview()
}

fn segment_index(rules: &RuleSet, id: &str) -> Option<usize> {
    rules.segments.iter().position(|s| s.id == id)
}

/// The key preview tokens are signed with.
pub struct PreviewKey {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for PreviewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreviewKey(<redacted>)")
    }
}

impl PreviewKey {
    /// A key from the shared secret.
    pub fn new(secret: &Secret) -> PreviewKey {
        PreviewKey {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(secret.expose())
                .unwrap_or_else(|_| unreachable!("HMAC takes any key length")),
        }
    }

    fn tag(&self, payload_b64: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(DOMAIN);
        mac.update(payload_b64.as_bytes());
        mac
    }

    /// Signs a grant into a token.
    pub fn mint(&self, grant: &Grant) -> String {
        let payload = Payload {
            v: VERSION,
            grant: grant.clone(),
        };
        // A struct of strings and integers always serialises.
        let json = serde_json::to_vec(&payload).unwrap_or_default();
        let body = URL_SAFE_NO_PAD.encode(json);
        let sig = URL_SAFE_NO_PAD.encode(self.tag(&body).finalize().into_bytes());
        format!("{body}.{sig}")
    }

    /// The grant of a token signed by this key and not expired at `now`.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Grant, Rejected> {
        let token = token.trim();
        if token.len() > MAX_TOKEN_LEN {
            return Err(Rejected::Invalid);
        }
        let (body, sig) = token.split_once('.').ok_or(Rejected::Invalid)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| Rejected::Invalid)?;
        // Constant-time comparison: the time taken says nothing about how much of a forgery matched.
        self.tag(body).verify_slice(&sig).map_err(|_| Rejected::Invalid)?;
        let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| Rejected::Invalid)?;
        let payload: Payload = serde_json::from_slice(&json).map_err(|_| Rejected::Invalid)?;
        if payload.v != VERSION {
            return Err(Rejected::Invalid);
        }
        if unix_secs(now) >= payload.grant.expires_at {
            return Err(Rejected::Expired);
        }
        Ok(payload.grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn grant(expires_at: u64) -> Grant {
        Grant {
            segments: vec!["savers".into()],
            variants: BTreeMap::from([("hero".into(), "rates".into())]),
            expires_at,
        }
    }

    #[test]
    fn a_minted_token_verifies_until_it_expires() {
        let key = PreviewKey::new(&Secret::generate());
        let now = SystemTime::now();
        let g = grant(unix_secs(now) + 60);
        let token = key.mint(&g);
        assert_eq!(key.verify(&token, now), Ok(g));
        assert_eq!(
            key.verify(&token, now + Duration::from_secs(61)),
            Err(Rejected::Expired)
        );
    }

    #[test]
    fn forged_altered_or_foreign_tokens_are_invalid() {
        let key = PreviewKey::new(&Secret::generate());
        let now = SystemTime::now();
        let token = key.mint(&grant(unix_secs(now) + 60));
        let other = PreviewKey::new(&Secret::generate());
        assert_eq!(other.verify(&token, now), Err(Rejected::Invalid));
        // The same signature on a longer-lived payload.
        let (_, sig) = token.split_once('.').unwrap();
        let forged_body = URL_SAFE_NO_PAD.encode(br#"{"v":1,"s":["savers"],"exp":99999999999}"#);
        assert_eq!(key.verify(&format!("{forged_body}.{sig}"), now), Err(Rejected::Invalid));
        for junk in ["", ".", "abc", "a.b", &"x".repeat(MAX_TOKEN_LEN + 1)] {
            assert_eq!(key.verify(junk, now), Err(Rejected::Invalid), "{junk:?}");
        }
    }

    #[test]
    fn warnings_never_carry_the_token() {
        for r in [Rejected::Invalid, Rejected::Expired] {
            let w = r.warning();
            assert_eq!(w.field, "preview");
            assert_eq!(w.code, "preview_ignored");
        }
    }
}
