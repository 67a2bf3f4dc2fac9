//! User-Agent → coarse device class. The User-Agent itself is dropped right after.

use std::hash::BuildHasher;
use std::sync::LazyLock;

use dashmap::DashMap;

/// Coarse device class, the only thing kept of a User-Agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceClass {
    /// Desktop or laptop browser.
    Desktop,
    /// Phone.
    Mobile,
    /// Tablet.
    Tablet,
    /// Crawler, monitor or other automated client.
    Bot,
    /// Anything else woothee recognises (TV, console, feature phone app).
    Other,
}

impl DeviceClass {
    /// The catalogue word.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Desktop => "desktop",
            DeviceClass::Mobile => "mobile",
            DeviceClass::Tablet => "tablet",
            DeviceClass::Bot => "bot",
            DeviceClass::Other => "other",
        }
    }

    /// Classifies a User-Agent; `None` when it says nothing useful.
    ///
    /// Parsing a User-Agent is the most expensive step of a decision, and real traffic repeats a few
    /// hundred strings, so classes are remembered by a 64-bit hash of the string under a random
    /// per-process key. The string itself is never kept; the memo is memory-only, bounded, and forgets
    /// everything when full.
    pub fn from_user_agent(ua: &str) -> Option<DeviceClass> {
        let memo = &MEMO.classes;
        let h = MEMO.keying.hash_one(ua);
        if let Some(class) = memo.get(&h) {
            return *class;
        }
        let class = DeviceClass::parse_user_agent(ua);
        if memo.len() >= MEMO_CAPACITY {
            memo.clear();
        }
        memo.insert(h, class);
        class
    }

    /// Classifies a User-Agent with woothee and personify's tablet and bot rules.
    pub fn parse_user_agent(ua: &str) -> Option<DeviceClass> {
        static PARSER: LazyLock<woothee::parser::Parser> = LazyLock::new(woothee::parser::Parser::new);
        let ua = ua.trim();
        if ua.is_empty() {
            return None;
        }
        let Some(result) = PARSER.parse(ua) else {
            return Some(if looks_automated(ua) {
                DeviceClass::Bot
            } else {
                DeviceClass::Other
            });
        };
        Some(match result.category {
            "crawler" => DeviceClass::Bot,
            "pc" => DeviceClass::Desktop,
            "smartphone" => {
                // woothee files tablets under "smartphone"; Android tablets omit the "Mobile" token.
                if result.os == "iPad" || ua.contains("Tablet") || (ua.contains("Android") && !ua.contains("Mobile")) {
                    DeviceClass::Tablet
                } else {
                    DeviceClass::Mobile
                }
            }
            "mobilephone" => DeviceClass::Mobile,
            _ if looks_automated(ua) => DeviceClass::Bot,
            _ => DeviceClass::Other,
        })
    }
}

/// Distinct User-Agents remembered before the memo starts over.
const MEMO_CAPACITY: usize = 4_096;

/// Device classes by keyed User-Agent hash.
struct Memo {
    keying: std::collections::hash_map::RandomState,
    classes: DashMap<u64, Option<DeviceClass>>,
}

static MEMO: LazyLock<Memo> = LazyLock::new(|| Memo {
    keying: Default::default(),
    classes: DashMap::new(),
});

fn looks_automated(ua: &str) -> bool {
    let lower = ua.to_ascii_lowercase();
    [
        "bot",
        "crawler",
        "spider",
        "curl/",
        "wget/",
        "python-requests",
        "headless",
        "monitor",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_common_user_agents() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", DeviceClass::Desktop),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", DeviceClass::Desktop),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", DeviceClass::Mobile),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", DeviceClass::Mobile),
            ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", DeviceClass::Tablet),
            ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", DeviceClass::Tablet),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", DeviceClass::Bot),
            ("curl/8.5.0", DeviceClass::Bot),
        ];
        for (ua, want) in cases {
            assert_eq!(DeviceClass::parse_user_agent(ua), Some(want), "{ua}");
            // Twice: the first answer is remembered, the second comes from the memo.
            assert_eq!(DeviceClass::from_user_agent(ua), Some(want), "{ua}");
            assert_eq!(DeviceClass::from_user_agent(ua), Some(want), "{ua}");
        }
        assert_eq!(DeviceClass::from_user_agent("  "), None);
    }

    #[test]
    fn the_memo_stays_bounded_under_distinct_user_agents() {
        for i in 0..(MEMO_CAPACITY * 2 + 10) {
            let ua = format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/{i}.0.0.0 Safari/537.36");
            assert_eq!(DeviceClass::from_user_agent(&ua), Some(DeviceClass::Desktop));
        }
        assert!(MEMO.classes.len() <= MEMO_CAPACITY, "{}", MEMO.classes.len());
    }
}
