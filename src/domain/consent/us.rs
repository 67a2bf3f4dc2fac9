//! US privacy signals: the `us_privacy` (CCPA) string and GPP strings (US national and state
//! sections through `iab_gpp`, the EU TCF section through personify's own decoder).

use iab_gpp::sections::SectionId;
use iab_gpp::v1::GPPString;

use super::tcf::{self, TcString};

/// A parsed US privacy string (`1YYN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsPrivacy {
    /// `Y` notice given, `N` not, `None` for `-`.
    pub notice: Option<bool>,
    /// Opted out of sale.
    pub opt_out_sale: Option<bool>,
    /// Covered by the LSPA.
    pub lspa: Option<bool>,
}

/// Why a consent string was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsError {
    /// Not `1` followed by three of `Y`, `N`, `-`.
    #[error("is not a US privacy string (version 1 then three of Y, N or -)")]
    UsPrivacy,
    /// The GPP header or a section could not be read.
    #[error("is not a decodable GPP string")]
    Gpp,
    /// The TCF section inside GPP is malformed.
    #[error("has a malformed TCF EU section: {0}")]
    Tcf(tcf::TcfError),
}

impl UsPrivacy {
    /// Parses the 4-character string.
    pub fn parse(s: &str) -> Result<UsPrivacy, UsError> {
        let b = s.trim().as_bytes();
        let flag = |c: u8| match c.to_ascii_uppercase() {
            b'Y' => Ok(Some(true)),
            b'N' => Ok(Some(false)),
            b'-' => Ok(None),
            _ => Err(UsError::UsPrivacy),
        };
        if b.len() != 4 || b[0] != b'1' {
            return Err(UsError::UsPrivacy);
        }
        Ok(UsPrivacy {
            notice: flag(b[1])?,
            opt_out_sale: flag(b[2])?,
            lspa: flag(b[3])?,
        })
    }
}

/// What a GPP string says that personify acts on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GppSignal {
    /// The TCF EU v2 section, decoded by personify's decoder.
    pub tcf: Option<TcString>,
    /// Any US section (national, state, or uspv1) says the visitor opted out of sale, sharing or
    /// targeted advertising, or its GPC subsection is set.
    pub us_opt_out: bool,
    /// At least one US section was present.
    pub has_us_section: bool,
    /// Section ids present.
    pub section_ids: Vec<u16>,
}

/// Longest GPP string accepted.
pub const MAX_GPP_LEN: usize = 16 * 1024;

/// Decodes a GPP string. `applicable` (`gpp_sid`) limits which sections count, when given.
pub fn decode_gpp(s: &str, applicable: Option<&[u16]>) -> Result<GppSignal, UsError> {
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_GPP_LEN {
        return Err(UsError::Gpp);
    }
    // The crate is not fuzzed for panics as personify's own decoder is; a panic must stay a bad string.
    let parsed = std::panic::catch_unwind(|| GPPString::parse_str(s))
        .map_err(|_| UsError::Gpp)?
        .map_err(|_| UsError::Gpp)?;
    let mut out = GppSignal::default();
    for &id in parsed.section_ids() {
        let num = id as u16;
        out.section_ids.push(num);
        if applicable.is_some_and(|sids| !sids.contains(&num)) {
            continue;
        }
        match id {
            SectionId::TcfEuV2 => {
                // A second copy would buy another full decode, and two copies may disagree: refused.
                if out.tcf.is_some() {
                    return Err(UsError::Gpp);
                }
                let raw = parsed.section(id).ok_or(UsError::Gpp)?;
                out.tcf = Some(tcf::decode(raw).map_err(UsError::Tcf)?);
            }
            SectionId::UspV1 => {
                out.has_us_section = true;
                let raw = parsed.section(id).ok_or(UsError::Gpp)?;
                out.us_opt_out |= UsPrivacy::parse(raw)?.opt_out_sale == Some(true);
            }
            SectionId::TcfEuV1 | SectionId::TcfCaV1 | SectionId::GppHeader | SectionId::GppSignalIntegrity => {}
            _ => {
                out.has_us_section = true;
                let section = std::panic::catch_unwind(|| parsed.decode_section(id))
                    .map_err(|_| UsError::Gpp)?
                    .map_err(|_| UsError::Gpp)?;
                let json = serde_json::to_value(&section).map_err(|_| UsError::Gpp)?;
                out.us_opt_out |= says_opt_out(&json);
            }
        }
    }
    Ok(out)
}

/// US state sections differ in layout but share field names: any `*_opt_out` set to `OptedOut`
/// (sale, sharing, targeted advertising) or a `gpc` of true is an opt-out.
fn says_opt_out(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| {
            let opt_out_field = matches!(
                k.as_str(),
                "sale_opt_out" | "sharing_opt_out" | "targeted_advertising_opt_out"
            );
            (opt_out_field && v == "OptedOut") || (k == "gpc" && v == &serde_json::Value::Bool(true)) || says_opt_out(v)
        }),
        serde_json::Value::Array(items) => items.iter().any(says_opt_out),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_privacy_strings() {
        assert_eq!(UsPrivacy::parse("1YYN").unwrap().opt_out_sale, Some(true));
        assert_eq!(UsPrivacy::parse("1YNN").unwrap().opt_out_sale, Some(false));
        assert_eq!(UsPrivacy::parse("1---").unwrap().opt_out_sale, None);
        for bad in ["", "1YY", "2YYN", "1YXN", "1YYNN"] {
            assert!(UsPrivacy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gpp_uspv1_section() {
        let g = decode_gpp("DBABTA~1YYN", None).unwrap();
        assert!(g.us_opt_out && g.has_us_section);
        assert_eq!(g.section_ids, [6]);
        let g = decode_gpp("DBABTA~1YNN", None).unwrap();
        assert!(!g.us_opt_out);
        assert!(decode_gpp("garbage~", None).is_err());
    }
}
