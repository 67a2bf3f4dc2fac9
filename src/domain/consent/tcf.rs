//! IAB TCF v2.2 / v2.3 TC string decoder, written here because no crate is both correct and
//! panic-free (docs/decisions/001-tcf-decoded-in-house.md). Every read is bounds-checked: truncated or garbage input is an error.

use std::collections::BTreeSet;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

/// URL-safe base64, padding optional, trailing bits ignored (the spec pads segments with zero bits).
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Longest TC string accepted; real ones are well under 2 KiB, GVL-wide bitfields under 10 KiB.
pub const MAX_TC_STRING_LEN: usize = 16 * 1024;

/// Most vendor ids all ranges of one TC string may name together. Each id named costs a set insert,
/// and 33 bits can name 65,535 of them, so without a budget one 16 KiB string costs seconds of CPU.
/// Real strings name a few thousand at most (the GVL has under 2,000 vendor ids, in at most four lists).
pub const MAX_RANGE_IDS: usize = 1 << 15;

/// Why a TC string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TcfError {
    /// Empty or over the length limit.
    #[error("is empty or longer than {MAX_TC_STRING_LEN} characters")]
    Length,
    /// Not URL-safe base64.
    #[error("is not URL-safe base64")]
    Base64,
    /// Ends before a field it announces.
    #[error("is truncated")]
    Truncated,
    /// Core version other than 2.
    #[error("has version {0}, expected 2")]
    Version(u8),
    /// A vendor range ends before it starts.
    #[error("has an inverted vendor range")]
    Range,
    /// Its vendor ranges name more ids than [`MAX_RANGE_IDS`].
    #[error("names more than {MAX_RANGE_IDS} vendor ids in ranges")]
    TooManyIds,
    /// A segment type that does not exist.
    #[error("has an unknown segment type {0}")]
    SegmentType(u8),
}

/// A decoded TC string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TcString {
    /// Always 2.
    pub version: u8,
    /// Deciseconds since the epoch.
    pub created: u64,
    /// Deciseconds since the epoch.
    pub last_updated: u64,
    /// CMP id.
    pub cmp_id: u16,
    /// CMP version.
    pub cmp_version: u16,
    /// Screen the consent was given on.
    pub consent_screen: u8,
    /// Two uppercase letters.
    pub consent_language: String,
    /// GVL version.
    pub vendor_list_version: u16,
    /// 4 = TCF 2.2, 5 = TCF 2.3.
    pub tcf_policy_version: u8,
    /// Must be true in v2.2+.
    pub is_service_specific: bool,
    /// Non-standard texts used.
    pub use_non_standard_texts: bool,
    /// Special features opted in (1-based ids).
    pub special_feature_optins: BTreeSet<u8>,
    /// Purposes consented (1-based ids).
    pub purposes_consent: BTreeSet<u8>,
    /// Purposes with legitimate-interest transparency (1-based ids).
    pub purposes_li_transparency: BTreeSet<u8>,
    /// Purpose one treatment flag.
    pub purpose_one_treatment: bool,
    /// Two uppercase letters.
    pub publisher_cc: String,
    /// Vendors with consent.
    pub vendor_consents: BTreeSet<u16>,
    /// Vendors with legitimate interest established.
    pub vendor_legitimate_interests: BTreeSet<u16>,
    /// Publisher restrictions.
    pub publisher_restrictions: Vec<PublisherRestriction>,
    /// Disclosed vendors segment (mandatory from TCF 2.3), if present.
    pub disclosed_vendors: Option<BTreeSet<u16>>,
    /// Publisher TC segment, if present.
    pub publisher_tc: Option<PublisherTc>,
}

/// One publisher restriction: a purpose restricted for some vendors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherRestriction {
    /// Purpose id.
    pub purpose: u8,
    /// 0 not allowed, 1 require consent, 2 require legitimate interest.
    pub restriction_type: u8,
    /// Vendors concerned.
    pub vendors: BTreeSet<u16>,
}

/// The publisher's own purposes segment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublisherTc {
    /// Publisher purposes consented.
    pub purposes_consent: BTreeSet<u8>,
    /// Publisher purposes with legitimate interest.
    pub purposes_li_transparency: BTreeSet<u8>,
    /// Number of custom purposes.
    pub num_custom_purposes: u8,
    /// Custom purposes consented.
    pub custom_purposes_consent: BTreeSet<u8>,
    /// Custom purposes with legitimate interest.
    pub custom_purposes_li_transparency: BTreeSet<u8>,
}

impl TcString {
    /// Whether purpose `id` (1-based) has consent.
    pub fn purpose(&self, id: u8) -> bool {
        self.purposes_consent.contains(&id)
    }
}

struct Bits<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Result<u64, TcfError> {
        debug_assert!(n <= 64);
        if self.pos + n > self.bytes.len() * 8 {
            return Err(TcfError::Truncated);
        }
        let mut v = 0u64;
        for _ in 0..n {
            let byte = self.bytes[self.pos / 8];
            let bit = (byte >> (7 - (self.pos % 8))) & 1;
            v = (v << 1) | u64::from(bit);
            self.pos += 1;
        }
        Ok(v)
    }

    fn u8(&mut self, n: usize) -> Result<u8, TcfError> {
        self.read(n).map(|v| v as u8)
    }

    fn u16(&mut self, n: usize) -> Result<u16, TcfError> {
        self.read(n).map(|v| v as u16)
    }

    fn flag(&mut self) -> Result<bool, TcfError> {
        self.read(1).map(|v| v == 1)
    }

    /// A bitfield of `n` flags → the set of 1-based ids whose flag is set.
    fn id_set_u8(&mut self, n: usize) -> Result<BTreeSet<u8>, TcfError> {
        let mut out = BTreeSet::new();
        for i in 1..=n {
            if self.flag()? {
                out.insert(i as u8);
            }
        }
        Ok(out)
    }

    fn letters(&mut self) -> Result<String, TcfError> {
        let a = self.u8(6)?;
        let b = self.u8(6)?;
        Ok([a, b].iter().map(|&c| char::from(b'A' + c.min(25))).collect())
    }

    /// `NumEntries` × (IsARange, Start, End?) → vendor ids, taking their number from `budget`.
    fn ranges(&mut self, budget: &mut usize) -> Result<BTreeSet<u16>, TcfError> {
        let entries = self.u16(12)?;
        let mut out = BTreeSet::new();
        for _ in 0..entries {
            let is_range = self.flag()?;
            let start = self.u16(16)?;
            let end = if is_range { self.u16(16)? } else { start };
            if end < start {
                return Err(TcfError::Range);
            }
            *budget = budget
                .checked_sub(usize::from(end - start) + 1)
                .ok_or(TcfError::TooManyIds)?;
            out.extend(start..=end);
        }
        Ok(out)
    }

    /// MaxVendorId, IsRangeEncoding, then a bitfield or ranges.
    fn vendors(&mut self, budget: &mut usize) -> Result<BTreeSet<u16>, TcfError> {
        let max = self.u16(16)?;
        if self.flag()? {
            return self.ranges(budget);
        }
        if self.pos + usize::from(max) > self.bytes.len() * 8 {
            return Err(TcfError::Truncated);
        }
        let mut out = BTreeSet::new();
        for id in 1..=max {
            if self.flag()? {
                out.insert(id);
            }
        }
        Ok(out)
    }
}

/// Decodes a TC string (`Core[.Segment]*`).
pub fn decode(s: &str) -> Result<TcString, TcfError> {
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_TC_STRING_LEN {
        return Err(TcfError::Length);
    }
    let mut segments = s.split('.');
    let core = B64
        .decode(segments.next().unwrap_or(""))
        .map_err(|_| TcfError::Base64)?;
    let mut b = Bits { bytes: &core, pos: 0 };
    let version = b.u8(6)?;
    if version != 2 {
        return Err(TcfError::Version(version));
    }
    let mut tc = TcString {
        version,
        created: b.read(36)?,
        last_updated: b.read(36)?,
        cmp_id: b.u16(12)?,
        cmp_version: b.u16(12)?,
        consent_screen: b.u8(6)?,
        consent_language: b.letters()?,
        vendor_list_version: b.u16(12)?,
        tcf_policy_version: b.u8(6)?,
        is_service_specific: b.flag()?,
        use_non_standard_texts: b.flag()?,
        special_feature_optins: b.id_set_u8(12)?,
        purposes_consent: b.id_set_u8(24)?,
        purposes_li_transparency: b.id_set_u8(24)?,
        purpose_one_treatment: b.flag()?,
        publisher_cc: b.letters()?,
        ..TcString::default()
    };
    let mut budget = MAX_RANGE_IDS;
    tc.vendor_consents = b.vendors(&mut budget)?;
    tc.vendor_legitimate_interests = b.vendors(&mut budget)?;
    let restrictions = b.u16(12)?;
    for _ in 0..restrictions {
        let purpose = b.u8(6)?;
        let restriction_type = b.u8(2)?;
        let vendors = b.ranges(&mut budget)?;
        tc.publisher_restrictions.push(PublisherRestriction {
            purpose,
            restriction_type,
            vendors,
        });
    }
    for segment in segments {
        let bytes = B64.decode(segment).map_err(|_| TcfError::Base64)?;
        let mut b = Bits { bytes: &bytes, pos: 0 };
        match b.u8(3)? {
            1 => tc.disclosed_vendors = Some(b.vendors(&mut budget)?),
            // Allowed vendors (2) existed for out-of-band CMPs and is deprecated: skipped.
            2 => {}
            3 => {
                let purposes_consent = b.id_set_u8(24)?;
                let purposes_li_transparency = b.id_set_u8(24)?;
                let num_custom_purposes = b.u8(6)?;
                let n = usize::from(num_custom_purposes);
                tc.publisher_tc = Some(PublisherTc {
                    purposes_consent,
                    purposes_li_transparency,
                    num_custom_purposes,
                    custom_purposes_consent: b.id_set_u8(n)?,
                    custom_purposes_li_transparency: b.id_set_u8(n)?,
                });
            }
            other => return Err(TcfError::SegmentType(other)),
        }
    }
    Ok(tc)
}

/// What a TC string grants personify, as tabled in docs/architecture.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcfGrant {
    /// Purpose 1: storage on the device (without it `visitor_id` is ignored).
    pub storage: bool,
    /// Purpose 11, or 5 and 6: content from the current page.
    pub personalize_contextual: bool,
    /// Purposes 5 and 6: content from the session summary (a profile).
    pub personalize_profile: bool,
    /// Purpose 8 or 9.
    pub measure: bool,
    /// Purpose 2, or 3 and 4: contextual ad buckets.
    pub advertise_contextual: bool,
    /// Purposes 3 and 4: session-based ad buckets.
    pub advertise_profile: bool,
}

impl TcfGrant {
    /// Maps purposes to grants. With `vendor_id`, the vendor must have consent and publisher
    /// restrictions naming it apply (type 0 forbids the purpose; type 2 forbids consent as a basis).
    pub fn from_tc(tc: &TcString, vendor_id: Option<u16>) -> TcfGrant {
        let vendor_ok = vendor_id.is_none_or(|v| tc.vendor_consents.contains(&v));
        let p = |id: u8| {
            vendor_ok
                && tc.purpose(id)
                && !vendor_id.is_some_and(|v| {
                    tc.publisher_restrictions
                        .iter()
                        .any(|r| r.purpose == id && r.restriction_type != 1 && r.vendors.contains(&v))
                })
        };
        let profile = p(5) && p(6);
        let ad_profile = p(3) && p(4);
        TcfGrant {
            storage: p(1),
            personalize_contextual: p(11) || profile,
            personalize_profile: profile,
            measure: p(8) || p(9),
            advertise_contextual: p(2) || ad_profile,
            advertise_profile: ad_profile,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_garbage_strings_are_errors() {
        assert_eq!(decode(""), Err(TcfError::Length));
        assert_eq!(decode("!!!"), Err(TcfError::Base64));
        assert_eq!(decode("CQ"), Err(TcfError::Truncated));
        assert!(matches!(
            decode("BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA"),
            Err(TcfError::Version(1))
        ));
    }
}
