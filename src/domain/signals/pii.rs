//! The PII firewall: recognises values that look like personal data so they never become signals.
//!
//! The checks are deliberately conservative in the "drop it" direction: a false positive costs one
//! signal on one page view, a false negative puts personal data into segment matching.

use std::sync::LazyLock;

use regex::Regex;

/// What to do with a signal value that looks like personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiPolicy {
    /// Drop the signal and name it in `warnings`.
    Scrub,
    /// Answer 400 naming the field.
    Reject,
}

/// The kind of personal data a value looks like (named in warnings; the value itself never is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PiiKind {
    /// `name@domain.tld`
    Email,
    /// Seven or more digits, optionally with `+`, spaces, dots, dashes or parentheses.
    Phone,
    /// A dotted IPv4 or an IPv6 address.
    IpAddress,
    /// 13–19 digits passing the Luhn check.
    PaymentCard,
    /// An IBAN passing its mod-97 check.
    Iban,
    /// A long opaque token (session ids, JWTs, hashes) that may identify a person.
    Token,
}

impl PiiKind {
    /// Human-readable name used in warnings and errors.
    pub fn describe(self) -> &'static str {
        match self {
            PiiKind::Email => "an email address",
            PiiKind::Phone => "a phone number",
            PiiKind::IpAddress => "an IP address",
            PiiKind::PaymentCard => "a payment card number",
            PiiKind::Iban => "an IBAN",
            PiiKind::Token => "a long identifier or token",
        }
    }
}

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)[a-z0-9._%+\-]+(@|%40)[a-z0-9\-]+(\.[a-z0-9\-]+)*\.[a-z]{2,}").unwrap());
static DIGIT_RUN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\+?[0-9][0-9 ().\-]{5,}[0-9]").unwrap());
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(^|[^0-9.])(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}($|[^0-9.])")
        .unwrap()
});
static IBAN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b").unwrap());
static TOKEN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[A-Za-z0-9_\-+/=.]{32,}").unwrap());

/// Returns what personal data `value` looks like, if any.
pub fn detect(value: &str) -> Option<PiiKind> {
    if value.len() < 7 {
        return None;
    }
    // One pass over the bytes rules out most patterns before any regex runs: a slug such as
    // `first-time-buyers` has no `@`, too few digits, dots or colons, and is too short for a token.
    let shape = Shape::of(value);
    if shape.at_sign && EMAIL.is_match(value) {
        return Some(PiiKind::Email);
    }
    if (shape.dots >= 3 && shape.digits >= 4 && IPV4.is_match(value)) || (shape.colons >= 2 && has_ipv6(value)) {
        return Some(PiiKind::IpAddress);
    }
    if value.len() >= 15 && may_start_iban(value) && IBAN.find_iter(value).any(|m| iban_valid(m.as_str())) {
        return Some(PiiKind::Iban);
    }
    if shape.digits >= 7 {
        if let Some(kind) = digit_runs(value) {
            return Some(kind);
        }
    }
    if value.len() >= 32 && TOKEN.find_iter(value).any(|m| looks_random(m.as_str())) {
        return Some(PiiKind::Token);
    }
    None
}

/// Byte counts that each pattern needs at least some of; each is a necessary condition only.
struct Shape {
    /// `@` or its percent-encoding `%40`.
    at_sign: bool,
    digits: usize,
    dots: usize,
    colons: usize,
}

impl Shape {
    fn of(value: &str) -> Shape {
        let bytes = value.as_bytes();
        let mut shape = Shape {
            at_sign: false,
            digits: 0,
            dots: 0,
            colons: 0,
        };
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'0'..=b'9' => shape.digits += 1,
                b'.' => shape.dots += 1,
                b':' => shape.colons += 1,
                b'@' => shape.at_sign = true,
                b'%' if bytes.get(i + 1..i + 3) == Some(b"40") => shape.at_sign = true,
                _ => {}
            }
        }
        shape
    }
}

/// What personal data a first-party visitor id looks like. Ids are random tokens by design, so only
/// values that are plainly someone's identity count: an email address, a card number, an IBAN.
pub fn detect_in_identifier(value: &str) -> Option<PiiKind> {
    if Shape::of(value).at_sign && EMAIL.is_match(value) {
        return Some(PiiKind::Email);
    }
    if may_start_iban(value) && IBAN.find_iter(value).any(|m| iban_valid(m.as_str())) {
        return Some(PiiKind::Iban);
    }
    if !value.bytes().all(|b| b.is_ascii_digit() || b == b' ' || b == b'-') {
        return None;
    }
    let digits: Vec<u8> = value.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
    ((13..=19).contains(&digits.len()) && luhn_valid(&digits)).then_some(PiiKind::PaymentCard)
}

/// Two letters then two digits somewhere: where every IBAN starts. Non-ASCII bytes count as letters,
/// since the case-insensitive pattern's `[A-Z]` also matches `K` (Kelvin) and `ſ`.
fn may_start_iban(value: &str) -> bool {
    let letter = |b: u8| b.is_ascii_alphabetic() || !b.is_ascii();
    value
        .as_bytes()
        .windows(4)
        .any(|w| letter(w[0]) && letter(w[1]) && w[2].is_ascii_digit() && w[3].is_ascii_digit())
}

/// Any `:`-separated hex run that parses as an IPv6 address (`::` compression included).
fn has_ipv6(value: &str) -> bool {
    value
        .split(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.'))
        .filter(|t| t.matches(':').count() >= 2)
        .any(|t| t.parse::<std::net::Ipv6Addr>().is_ok())
}

/// A run of digits is a card when 13–19 digits pass Luhn, otherwise a phone number from 7 digits on.
fn digit_runs(value: &str) -> Option<PiiKind> {
    let mut found = None;
    for m in DIGIT_RUN.find_iter(value) {
        let digits: Vec<u8> = m
            .as_str()
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        if (13..=19).contains(&digits.len()) && luhn_valid(&digits) {
            return Some(PiiKind::PaymentCard);
        }
        // Years, prices and dates ("2026-11-22") have few digits or look like dates: not phones.
        if digits.len() >= 7 && !looks_like_date(m.as_str()) {
            found = Some(PiiKind::Phone);
        }
    }
    found
}

fn looks_like_date(s: &str) -> bool {
    static DATE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(19|20)[0-9]{2}[-./](0?[1-9]|1[0-2])[-./](0?[1-9]|[12][0-9]|3[01])$").unwrap());
    DATE.is_match(s.trim())
}

/// The Luhn checksum over digit values.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum % 10 == 0
}

/// ISO 13616 mod-97 check.
pub fn iban_valid(candidate: &str) -> bool {
    let compact: Vec<u8> = candidate
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for &b in tail.iter().chain(head) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A 32+ character run is a token when it mixes character classes like random data does; long
/// readable slugs (`first-time-buyer-mortgage-guide-2026`) are not.
fn looks_random(s: &str) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let upper = s.bytes().filter(u8::is_ascii_uppercase).count();
    let lower = s.bytes().filter(u8::is_ascii_lowercase).count();
    let classes = [digits, upper, lower].iter().filter(|&&n| n > 0).count();
    let hex = s.bytes().all(|b| b.is_ascii_hexdigit());
    hex || classes >= 2 && digits * 8 >= s.len() || classes == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every regex on every value: what `detect` must equal with its byte prefilter.
    fn detect_without_prefilter(value: &str) -> Option<PiiKind> {
        if value.len() < 7 {
            return None;
        }
        if EMAIL.is_match(value) {
            return Some(PiiKind::Email);
        }
        if IPV4.is_match(value) || has_ipv6(value) {
            return Some(PiiKind::IpAddress);
        }
        if IBAN.find_iter(value).any(|m| iban_valid(m.as_str())) {
            return Some(PiiKind::Iban);
        }
        if let Some(kind) = digit_runs(value) {
            return Some(kind);
        }
        if TOKEN.find_iter(value).any(|m| looks_random(m.as_str())) {
            return Some(PiiKind::Token);
        }
        None
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4_000))]
        #[test]
        fn the_prefilter_never_changes_the_answer(
            v in r"([a-zA-Z]{1,6}|[0-9]{1,5}|[.:@%/ +_=()-]|%40|GB82|\u{212A}|[A-Fa-f0-9]{4}:){1,16}"
        ) {
            proptest::prop_assert_eq!(detect(&v), detect_without_prefilter(&v), "{:?}", v);
        }

        #[test]
        fn identifier_checks_agree_with_the_plain_patterns(
            v in r"([a-zA-Z]{1,6}|[0-9]{1,5}|[ @.-]|%40|GB82|DE89){1,12}"
        ) {
            let digits: Vec<u8> = v.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
            let only_card_chars = v.bytes().all(|b| b.is_ascii_digit() || b == b' ' || b == b'-');
            let plain = if EMAIL.is_match(&v) {
                Some(PiiKind::Email)
            } else if IBAN.find_iter(&v).any(|m| iban_valid(m.as_str())) {
                Some(PiiKind::Iban)
            } else {
                (only_card_chars && (13..=19).contains(&digits.len()) && luhn_valid(&digits)).then_some(PiiKind::PaymentCard)
            };
            proptest::prop_assert_eq!(detect_in_identifier(&v), plain, "{:?}", v);
        }
    }

    #[test]
    fn recognises_each_kind() {
        assert_eq!(detect("jane.doe@example.com"), Some(PiiKind::Email));
        assert_eq!(detect("jane.doe%40example.com"), Some(PiiKind::Email));
        assert_eq!(detect("+44 20 7946 0958"), Some(PiiKind::Phone));
        assert_eq!(detect("call-07700900123"), Some(PiiKind::Phone));
        assert_eq!(detect("203.0.113.77"), Some(PiiKind::IpAddress));
        assert_eq!(detect("2001:db8::ff00:42:8329"), Some(PiiKind::IpAddress));
        assert_eq!(detect("4111 1111 1111 1111"), Some(PiiKind::PaymentCard));
        assert_eq!(detect("4111-1111-1111-1111"), Some(PiiKind::PaymentCard));
        assert_eq!(detect("GB82 WEST 1234 5698 7654 32"), Some(PiiKind::Iban));
        assert_eq!(detect("DE89370400440532013000"), Some(PiiKind::Iban));
        assert_eq!(
            detect("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"),
            Some(PiiKind::Token)
        );
        assert_eq!(
            detect("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
            Some(PiiKind::Token)
        );
    }

    #[test]
    fn leaves_ordinary_values_alone() {
        for v in [
            "/mortgages/first-time-buyers",
            "spring_mortgage_2026",
            "first-time-buyer-mortgage-guide-and-calculator",
            "/savings/easy-access-isa",
            "newsletter",
            "2026-11-22",
            "price-1999",
            "4111 1111 1111 1112", // fails Luhn, but 16 digits: reported as a phone-like number
        ] {
            let got = detect(v);
            if v.starts_with("4111") {
                assert_eq!(got, Some(PiiKind::Phone), "{v}");
            } else {
                assert_eq!(got, None, "{v}");
            }
        }
    }

    #[test]
    fn checksums() {
        assert!(luhn_valid(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
        assert!(!luhn_valid(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]));
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(!iban_valid("GB82WEST12345698765433"));
    }
}
