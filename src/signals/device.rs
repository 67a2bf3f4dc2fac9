//! User-Agent → coarse device class. The User-Agent itself is dropped right after.

use std::sync::LazyLock;

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
    pub fn from_user_agent(ua: &str) -> Option<DeviceClass> {
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
            assert_eq!(DeviceClass::from_user_agent(ua), Some(want), "{ua}");
        }
        assert_eq!(DeviceClass::from_user_agent("  "), None);
    }
}
