//! Coarse locale signals: country from a trusted header, primary language from `Accept-Language`.

/// An ISO 3166-1 alpha-2 country code, uppercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country([u8; 2]);

impl Country {
    /// Parses a header value; placeholders CDNs use for "unknown" (`XX`, `ZZ`, Tor's `T1`) give `None`.
    pub fn parse(raw: &str) -> Option<Country> {
        let b = raw.trim().as_bytes();
        if b.len() != 2 || !b.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        let code = [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()];
        if matches!(&code, b"XX" | b"ZZ" | b"T1") {
            return None;
        }
        Some(Country(code))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// Primary language subtag of the most preferred `Accept-Language` entry (`en-GB,en;q=0.8` → `en`).
pub fn primary_language(header: &str) -> Option<String> {
    let mut best: Option<(&str, f32)> = None;
    for entry in header.split(',').take(16) {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.trim().parse::<f32>().ok()))
            .unwrap_or(1.0);
        if tag.is_empty() || tag == "*" || q.is_nan() || q <= 0.0 {
            continue;
        }
        if best.is_none_or(|(_, bq)| q > bq) {
            best = Some((tag, q));
        }
    }
    let primary = best?.0.split(['-', '_']).next()?;
    let ok = (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic());
    ok.then(|| primary.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries() {
        assert_eq!(Country::parse("gb").map(|c| c.as_str().to_string()), Some("GB".into()));
        assert_eq!(Country::parse(" DE "), Country::parse("de"));
        assert_eq!(Country::parse("XX"), None);
        assert_eq!(Country::parse("T1"), None);
        assert_eq!(Country::parse("GBR"), None);
        assert_eq!(Country::parse(""), None);
    }

    #[test]
    fn languages() {
        assert_eq!(primary_language("en-GB,en;q=0.9,de;q=0.8").as_deref(), Some("en"));
        assert_eq!(primary_language("de;q=0.5, fr-CH").as_deref(), Some("fr"));
        assert_eq!(primary_language("*"), None);
        assert_eq!(primary_language("x-klingon-very-long"), None);
        assert_eq!(primary_language(""), None);
    }
}
