//! Network keys: a keyed hash of the client's network prefix, so a release threshold can count
//! distinct networks as well as distinct visitors, and one client inventing visitor ids cannot
//! cross it alone (see `docs/decisions/005-privacy-network-keys.md`).
//!
//! The prefix is the /24 of an IPv4 address and the /48 of an IPv6 address (an IPv4-mapped IPv6
//! address counts as its IPv4 address): one subscriber line or one /64 holds many addresses but
//! one prefix. The hash is keyed with a salt per ISO week, shared by every node through the store
//! and deleted when the week is over; a count over several weeks takes the largest count of any
//! single week, so a rotating salt never multiplies one network into several.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{utc_day, Secret};

/// ISO week number since the epoch of a UTC day: weeks start on Monday (1970-01-01 was a Thursday).
pub fn week_of_day(day: i64) -> i64 {
    (day + 3).div_euclid(7)
}

/// The network prefix of an address: the unit one party is assumed to control.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkPrefix {
    /// Tag (4 or 6) then the prefix bytes, zero-padded.
    bytes: [u8; 7],
}

impl std::fmt::Debug for NetworkPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NetworkPrefix(<redacted>)")
    }
}

impl NetworkPrefix {
    /// The /24 of an IPv4 address, the /48 of an IPv6 one.
    pub fn of(addr: IpAddr) -> NetworkPrefix {
        match addr {
            IpAddr::V4(v4) => Self::v4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::v4(v4),
                None => Self::v6(v6),
            },
        }
    }

    fn v4(a: Ipv4Addr) -> NetworkPrefix {
        let o = a.octets();
        NetworkPrefix {
            bytes: [4, o[0], o[1], o[2], 0, 0, 0],
        }
    }

    fn v6(a: Ipv6Addr) -> NetworkPrefix {
        let o = a.octets();
        NetworkPrefix {
            bytes: [6, o[0], o[1], o[2], o[3], o[4], o[5]],
        }
    }

    /// The memo slot of this prefix.
    fn slot(&self) -> usize {
        let mut word = [0u8; 8];
        word[..7].copy_from_slice(&self.bytes);
        let mixed = u64::from_le_bytes(word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 57) as usize % MEMO_SLOTS
    }
}

/// A 32-byte keyed hash standing for one network during one ISO week; only this module makes one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkKey([u8; 32]);

impl std::fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NetworkKey({}…)", hex::encode(&self.0[..4]))
    }
}

impl NetworkKey {
    /// The key bytes (input to sketches only).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Slots of the per-thread memo of recent network keys.
const MEMO_SLOTS: usize = 128;

/// One remembered key: valid only for the salts of `generation` and for `week`.
#[derive(Clone, Copy)]
struct Memo {
    generation: u64,
    week: i64,
    prefix: NetworkPrefix,
    key: NetworkKey,
}

thread_local! {
    /// A network sends many page views a week (a visitor's next pages, the people behind one NAT),
    /// and each key costs two hash blocks: a worker keeps the last keys it computed, one per slot,
    /// so a repeat costs a comparison. Entries are tied to the salts they were computed under and
    /// are never returned once the salts are replaced (every release-set refresh replaces them).
    static MEMO: RefCell<[Option<Memo>; MEMO_SLOTS]> = const { RefCell::new([None; MEMO_SLOTS]) };
}

/// Generations of installed salts, unique in the process, so one thread's memo never answers for
/// another set of salts (each install, and each `NetworkKeys`, has its own).
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

/// The salts of one install.
#[derive(Default)]
struct Weeks {
    generation: u64,
    /// HMAC states already keyed with each week's salt: keying costs two hash blocks, paid once.
    keyed: Vec<(i64, HmacSha256)>,
}

/// The weekly network salts held in memory, swapped lock-free when they are refreshed.
#[derive(Default)]
pub struct NetworkKeys {
    weeks: ArcSwap<Weeks>,
}

impl std::fmt::Debug for NetworkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkKeys").field("weeks", &self.weeks()).finish()
    }
}

impl NetworkKeys {
    /// Replaces the salts with the store's current ones.
    pub fn install(&self, weeks: Vec<(i64, Secret)>) {
        let keyed = weeks
            .into_iter()
            .map(|(w, salt)| {
                let mac = <HmacSha256 as Mac>::new_from_slice(salt.expose())
                    .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
                (w, mac)
            })
            .collect();
        self.weeks.store(Arc::new(Weeks {
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
            keyed,
        }));
    }

    /// ISO weeks whose salt is held.
    pub fn weeks(&self) -> Vec<i64> {
        self.weeks.load().keyed.iter().map(|(w, _)| *w).collect()
    }

    /// The key of a client address at `now`. `None` without an address, or when this week's salt is
    /// not held (the store could not be read): the network view then cannot help a count cross k.
    pub fn key(&self, addr: Option<IpAddr>, now: SystemTime) -> Option<NetworkKey> {
        let prefix = NetworkPrefix::of(addr?);
        let week = week_of_day(utc_day(now));
        let weeks = self.weeks.load();
        let (_, keyed) = weeks.keyed.iter().find(|(w, _)| *w == week)?;
        let generation = weeks.generation;
        let slot = prefix.slot();
        let remembered = MEMO.with(|m| m.borrow()[slot]);
        if let Some(m) = remembered.filter(|m| m.generation == generation && m.week == week && m.prefix == prefix) {
            return Some(m.key);
        }
        let mut mac = keyed.clone();
        mac.update(b"network\0");
        mac.update(&prefix.bytes);
        let key = NetworkKey(mac.finalize().into_bytes().into());
        MEMO.with(|m| {
            m.borrow_mut()[slot] = Some(Memo {
                generation,
                week,
                prefix,
                key,
            })
        });
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn keys_for(now: SystemTime) -> NetworkKeys {
        let k = NetworkKeys::default();
        let week = week_of_day(utc_day(now));
        k.install(vec![
            (week, Secret::from_bytes([9; 32])),
            (week + 1, Secret::from_bytes([8; 32])),
        ]);
        k
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2026-11-23 is a Monday (day 20_780); the Sunday before belongs to the previous week.
        assert_eq!(week_of_day(20_780), week_of_day(20_786));
        assert_eq!(week_of_day(20_779) + 1, week_of_day(20_780));
    }

    #[test]
    fn one_prefix_is_one_network_and_neighbours_differ() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_390_200);
        let k = keys_for(now);
        assert_eq!(k.key(ip("203.0.113.7"), now), k.key(ip("203.0.113.250"), now));
        assert_ne!(k.key(ip("203.0.113.7"), now), k.key(ip("203.0.114.7"), now));
        assert_eq!(
            k.key(ip("2001:db8:1:2::1"), now),
            k.key(ip("2001:db8:1:ffff:ab::9"), now)
        );
        assert_ne!(k.key(ip("2001:db8:1::1"), now), k.key(ip("2001:db8:2::1"), now));
        assert_eq!(k.key(ip("::ffff:203.0.113.9"), now), k.key(ip("203.0.113.1"), now));
        assert_eq!(k.key(None, now), None);
    }

    #[test]
    fn the_key_is_stable_within_a_week_and_changes_with_the_next() {
        // A Monday 00:00 UTC: the whole week shares the salt, the next Monday does not.
        let monday = UNIX_EPOCH + Duration::from_secs(20_780 * 86_400);
        let k = keys_for(monday);
        let sunday_night = monday + Duration::from_secs(7 * 86_400 - 1);
        assert_eq!(
            k.key(ip("198.51.100.4"), monday),
            k.key(ip("198.51.100.4"), sunday_night)
        );
        let next_monday = monday + Duration::from_secs(7 * 86_400);
        assert_ne!(
            k.key(ip("198.51.100.4"), monday),
            k.key(ip("198.51.100.4"), next_monday)
        );
        // Without the week's salt there is no key (never a local, unshared one).
        assert_eq!(
            k.key(ip("198.51.100.4"), next_monday + Duration::from_secs(7 * 86_400)),
            None
        );
    }

    #[test]
    fn a_remembered_key_never_outlives_its_salts() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_390_200);
        let week = week_of_day(utc_day(now));
        let k = keys_for(now);
        let first = k.key(ip("203.0.113.7"), now);
        assert_eq!(k.key(ip("203.0.113.7"), now), first, "a repeat is the same key");
        // Same thread, same prefix, same week: another set of salts must not get the memo's answer.
        let other = NetworkKeys::default();
        other.install(vec![(week, Secret::from_bytes([7; 32]))]);
        assert_ne!(other.key(ip("203.0.113.7"), now), first);
        k.install(vec![(week, Secret::from_bytes([6; 32]))]);
        let rotated = k.key(ip("203.0.113.7"), now);
        assert_ne!(rotated, first);
        assert_ne!(rotated, other.key(ip("203.0.113.7"), now));
        k.install(vec![(week, Secret::from_bytes([9; 32]))]);
        assert_eq!(
            k.key(ip("203.0.113.7"), now),
            first,
            "the same salt gives the same key again"
        );
    }
}
