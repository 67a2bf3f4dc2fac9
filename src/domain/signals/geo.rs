//! Where a visitor's country comes from, and which addresses may be looked up at all.
//!
//! Only a public unicast address says anything about where a visitor is. A private, loopback,
//! shared (CGNAT), link-local, documentation, benchmarking, multicast or otherwise reserved one is
//! the visitor's own network or a proxy's, and a translation prefix (6to4, Teredo, NAT64) names a
//! relay: each means unknown, the strictest default, whatever a database says about it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::Country;

/// Where `geo.country` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountrySource {
    /// The country header of a trusted proxy or CDN (`geo.country_header`).
    Header,
    /// The operator's MaxMind-format database (`geo.mmdb_path`).
    Database,
    /// The registries' table compiled into the binary (`geo.builtin`).
    Builtin,
}

impl CountrySource {
    /// The source in words, for `personify explain`.
    pub fn describe(self) -> &'static str {
        match self {
            CountrySource::Header => "trusted country header",
            CountrySource::Database => "geo.mmdb_path database",
            CountrySource::Builtin => "built-in registry table (geo.builtin)",
        }
    }
}

/// A country found from the visitor's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    /// The country.
    pub country: Country,
    /// Which source gave it.
    pub source: CountrySource,
}

/// Whether `ip` is a public unicast address, the only kind whose country means anything.
pub fn is_locatable(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4_is_public(v4),
        IpAddr::V6(v6) => v6_is_public(v6),
    }
}

/// IPv4 special-purpose blocks (IANA registry, RFC 6890 and successors) that are not global.
const V4_SPECIAL: &[(u32, u8)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0A00_0000, 8),  // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 shared address space (CGNAT)
    (0x7F00_0000, 8),  // 127.0.0.0/8 loopback
    (0xA9FE_0000, 16), // 169.254.0.0/16 link-local
    (0xAC10_0000, 12), // 172.16.0.0/12 private
    (0xC000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
    (0xC000_0200, 24), // 192.0.2.0/24 documentation
    (0xC058_6300, 24), // 192.88.99.0/24 6to4 relay anycast
    (0xC0A8_0000, 16), // 192.168.0.0/16 private
    (0xC612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xC633_6400, 24), // 198.51.100.0/24 documentation
    (0xCB00_7100, 24), // 203.0.113.0/24 documentation
    (0xE000_0000, 4),  // 224.0.0.0/4 multicast
    (0xF000_0000, 4),  // 240.0.0.0/4 reserved, and the broadcast address
];

fn v4_is_public(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !V4_SPECIAL
        .iter()
        .any(|&(net, prefix)| bits >> (32 - prefix) == net >> (32 - prefix))
}

/// IPv6 blocks inside global unicast (2000::/3) that are not a visitor's own address.
const V6_SPECIAL: &[(u128, u8)] = &[
    (0x2001_0000 << 96, 23), // 2001::/23 IETF protocol assignments (Teredo, ORCHID, …)
    (0x2001_0db8 << 96, 32), // 2001:db8::/32 documentation
    (0x2002_0000 << 96, 16), // 2002::/16 6to4
    (0x3fff_0000 << 96, 20), // 3fff::/20 documentation
];

fn v6_is_public(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    // Only 2000::/3 is allocated to the registries; everything else (loopback, unspecified, ULA,
    // link-local, multicast, NAT64's 64:ff9b::/96, discard) is not a place.
    bits >> 125 == 0b001
        && !V6_SPECIAL
            .iter()
            .any(|&(net, prefix)| bits >> (128 - prefix) == net >> (128 - prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locatable(s: &str) -> bool {
        is_locatable(s.parse().unwrap())
    }

    #[test]
    fn public_unicast_addresses_are_locatable() {
        for ip in [
            "8.8.8.8",
            "85.214.1.2",
            "1.0.16.1",
            "223.255.255.1",
            "2001:4860:4860::8888",
            "2a01:238::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(locatable(ip), "{ip}");
        }
    }

    #[test]
    fn private_loopback_cgnat_and_reserved_addresses_are_not() {
        for ip in [
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.1.2.3",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::808:808",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:808:808::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
        ] {
            assert!(!locatable(ip), "{ip}");
        }
    }

    #[test]
    fn neighbours_of_special_blocks_are_public() {
        for ip in [
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "2001:200::1",
            "2003::1",
        ] {
            assert!(locatable(ip), "{ip}");
        }
    }
}
