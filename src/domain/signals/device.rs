//! User-Agent (and User-Agent Client Hints) → coarse device class. The User-Agent itself is dropped
//! right after.
//!
//! The data is maintained elsewhere: uap-core's device and OS regexes (vendored in `uap/`, Apache-2.0)
//! through the `ua-parser` crate, and the `isbot` crate's crawler patterns (MIT). personify adds only
//! the mapping from what those name (an OS family, a device family, a crawler) to its six classes.

use std::hash::BuildHasher;
use std::sync::LazyLock;

use regex::Regex;

/// Coarse device class, the only thing kept of a User-Agent; the catalogue word is the lowercase variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray, strum::VariantNames)]
#[strum(serialize_all = "lowercase")]
pub enum DeviceClass {
    /// Desktop or laptop browser.
    Desktop,
    /// Phone, including feature phones.
    Mobile,
    /// Tablet or e-reader.
    Tablet,
    /// Smart TV, games console or set-top box.
    Tv,
    /// Crawler, monitor or other automated client: decided for, never counted.
    Bot,
    /// Anything else.
    Other,
}

/// User-Agent Client Hints (`Sec-CH-UA-Mobile`, `Sec-CH-UA-Platform`, or OpenRTB's `device.sua`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientHints<'a> {
    /// `?1`: the browser presents itself as a mobile device.
    pub mobile: Option<bool>,
    /// The platform (`Android`, `Windows`, `macOS`, …), unquoted.
    pub platform: Option<&'a str>,
}

impl<'a> ClientHints<'a> {
    /// Reads the two low-entropy hint headers (structured-field syntax: `?1`, `"Android"`).
    pub fn from_headers(mobile: Option<&'a str>, platform: Option<&'a str>) -> Self {
        let mobile = match mobile.map(str::trim) {
            Some("?1") => Some(true),
            Some("?0") => Some(false),
            _ => None,
        };
        let platform = platform.map(|p| p.trim().trim_matches('"')).filter(|p| !p.is_empty());
        ClientHints { mobile, platform }
    }
}

impl DeviceClass {
    /// Every class, in documentation order.
    pub const ALL: &'static [DeviceClass] = <DeviceClass as strum::VariantArray>::VARIANTS;

    /// The catalogue words, in the order of [`DeviceClass::ALL`].
    pub const NAMES: &'static [&'static str] = <DeviceClass as strum::VariantNames>::VARIANTS;

    /// The catalogue word.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The class of a request from its User-Agent and Client Hints; `None` when neither says anything.
    ///
    /// A crawler or TV named by the User-Agent stays one whatever the hints say (hints are only sent by
    /// Chromium browsers). Otherwise the hints win: Chrome's reduced User-Agent hides tablets and
    /// platforms, the hints do not.
    pub fn classify(user_agent: Option<&str>, hints: ClientHints<'_>) -> Option<DeviceClass> {
        let from_ua = user_agent.and_then(DeviceClass::from_user_agent);
        if matches!(from_ua, Some(DeviceClass::Bot | DeviceClass::Tv)) {
            return from_ua;
        }
        let platform = hints.platform.unwrap_or("");
        let is = |name: &str| platform.eq_ignore_ascii_case(name);
        let from_hints = match hints.mobile {
            Some(true) => Some(DeviceClass::Mobile),
            // Android without the mobile hint is a tablet (or a TV, which the User-Agent names).
            Some(false) if is("android") => Some(DeviceClass::Tablet),
            Some(false) if DESKTOP_PLATFORMS.iter().any(|p| is(p)) => Some(DeviceClass::Desktop),
            _ => None,
        };
        from_hints.or(from_ua)
    }

    /// Classifies a User-Agent; `None` when it says nothing useful.
    ///
    /// Parsing a User-Agent is the most expensive step of a decision, and real traffic repeats a few
    /// hundred strings, so classes are remembered by a 64-bit hash of the string under a random
    /// per-process key. The string itself is never kept; the memo is memory-only and bounded, and
    /// evicts the strings seen least (S3-FIFO) rather than forgetting everything when full, so a
    /// burst of one-off User-Agents (crawlers rotate theirs) does not flush the common ones.
    pub fn from_user_agent(ua: &str) -> Option<DeviceClass> {
        let memo = &MEMO.classes;
        let h = MEMO.keying.hash_one(ua);
        if let Some(class) = memo.get(&h) {
            return class;
        }
        let class = DeviceClass::parse_user_agent(ua);
        memo.insert(h, class);
        class
    }

    /// Builds the parsers and runs them over a few common User-Agents. The regex engines build their
    /// automata lazily, on the first inputs they see: without this, the first seconds of traffic
    /// after a start pay for it (page views waited 100-200 ms at p99 under load).
    pub fn warm_up() {
        const COMMON: [&str; 5] = [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ];
        for ua in COMMON {
            let _ = DeviceClass::parse_user_agent(ua);
        }
    }

    /// Classifies a User-Agent with the crawler list, uap-core's device and OS regexes, and the
    /// TV, tablet and feature-phone markers those do not classify.
    pub fn parse_user_agent(ua: &str) -> Option<DeviceClass> {
        let ua = ua.trim();
        if ua.is_empty() {
            return None;
        }
        let data = &*DATA;
        if data.bots.is_bot(ua) {
            return Some(DeviceClass::Bot);
        }
        let device = data.devices.extract(ua);
        let family = device.as_ref().map_or("Other", |d| &*d.device);
        if family == "Spider" {
            return Some(DeviceClass::Bot);
        }
        if data.tv.is_match(ua) {
            return Some(DeviceClass::Tv);
        }
        let os = data.oses.extract(ua);
        let os = os.as_ref().map_or("Other", |o| &*o.os);
        let mobile_token = data.mobile_token.is_match(ua);
        if family == "iPad" || data.tablet.is_match(ua) || (os == "Android" && !mobile_token) {
            return Some(DeviceClass::Tablet);
        }
        if MOBILE_OSES.contains(&os) || (family != "Other" && family != "Mac") || mobile_token {
            return Some(DeviceClass::Mobile);
        }
        if DESKTOP_OSES.contains(&os) || data.desktop.is_match(ua) {
            return Some(DeviceClass::Desktop);
        }
        Some(DeviceClass::Other)
    }
}

/// `Sec-CH-UA-Platform` values of desktops and laptops.
const DESKTOP_PLATFORMS: &[&str] = &["Windows", "macOS", "Linux", "Chrome OS", "ChromeOS"];

/// uap-core OS families of phones and other handhelds.
const MOBILE_OSES: &[&str] = &[
    "iOS",
    "Android",
    "Windows Phone",
    "Windows Mobile",
    "Windows CE",
    "BlackBerry OS",
    "BlackBerry Tablet OS",
    "Symbian OS",
    "Symbian^3",
    "KaiOS",
    "Firefox OS",
    "Tizen",
    "Bada",
    "webOS",
    "MeeGo",
    "Maemo",
    "Sailfish",
    "Ubuntu Touch",
];

/// uap-core OS families of desktops and laptops.
const DESKTOP_OSES: &[&str] = &[
    "Windows",
    "Mac OS X",
    "Mac OS",
    "Linux",
    "Ubuntu",
    "Kubuntu",
    "Xubuntu",
    "Debian",
    "Fedora",
    "Red Hat",
    "SUSE",
    "Gentoo",
    "Mint",
    "Arch Linux",
    "Slackware",
    "Mandriva",
    "Chrome OS",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
    "Solaris",
];

/// The compiled data: built on first use (a few milliseconds), then shared.
struct Data {
    bots: isbot::Bots,
    devices: ua_parser::device::Extractor<'static>,
    oses: ua_parser::os::Extractor<'static>,
    tv: Regex,
    tablet: Regex,
    mobile_token: Regex,
    desktop: Regex,
}

/// uap-core's `regexes.yaml` (device and OS parsers), converted to JSON so no YAML parser is needed.
const UAP_REGEXES: &str = include_str!("uap/regexes.json");

static DATA: LazyLock<Data> = LazyLock::new(|| {
    // The vendored data and the patterns below are fixed at build time; the tests load them, so a
    // failure here is a build defect, never something a request can cause.
    let regexes: ua_parser::Regexes<'static> =
        serde_json::from_str(UAP_REGEXES).expect("vendored uap-core regexes are valid JSON");
    let devices = ua_parser::device::Builder::new()
        .push_all(regexes.device_parsers)
        .map_err(ua_parser::Error::from)
        .and_then(|b| b.build().map_err(ua_parser::Error::from))
        .expect("vendored uap-core device regexes compile");
    let oses = ua_parser::os::Builder::new()
        .push_all(regexes.os_parsers)
        .map_err(ua_parser::Error::from)
        .and_then(|b| b.build().map_err(ua_parser::Error::from))
        .expect("vendored uap-core OS regexes compile");
    let re = |p: &str| Regex::new(p).expect("device class pattern compiles");
    Data {
        bots: isbot::Bots::default(),
        devices,
        oses,
        // Smart TVs, streaming sticks, set-top boxes and consoles (uap-core names their makers, not
        // their kind): HbbTV and the TV platforms' own tokens, Fire TV (`AFT…`), Chromecast (`CrKey`).
        tv: re(concat!(
            r"(?i)smart-?tv|hbbtv|\bdtv\b|netcast|google ?tv|android ?tv|apple ?tv|\bcrkey\b|\broku|\bbravia|",
            r"\btizen\b[^)]*\btv\b|web0s|\bwebos\b[^)]*\btv\b|\baft[a-z]{1,3}\b|playstation|\bxbox|nintendo|",
            r"inettvbrowser|tsbnettv|opera tv|\bviera\b|philipstv|\baquos\b|set-?top|\(\s*tv\s*;|; ?tv\)"
        )),
        tablet: re(r"(?i)\btablet\b|\bipad\b|\bsilk\b|\bkindle\b|\bplaybook\b"),
        // Feature-phone and mobile-browser tokens uap-core has no OS for (i-mode, PHS, MIDP, Opera Mini).
        mobile_token: re(concat!(
            r"(?i)\bmobile\b|\bphone\b|\bmidp\b|\bcldc\b|docomo|\bkddi\b|softbank|vodafone|willcom|ddipocket|",
            r"up\.browser|opera mini|jig browser|\bj-phone\b|\bnetfront\b|\bobigo\b|\bucweb\b"
        )),
        desktop: re(r"(?i)windows|macintosh|\bx11\b|mac_powerpc"),
    }
});

/// Distinct User-Agents remembered.
const MEMO_CAPACITY: usize = 4_096;

/// Device classes by keyed User-Agent hash.
struct Memo {
    keying: std::collections::hash_map::RandomState,
    classes: quick_cache::sync::Cache<u64, Option<DeviceClass>>,
}

static MEMO: LazyLock<Memo> = LazyLock::new(|| Memo {
    keying: Default::default(),
    classes: quick_cache::sync::Cache::new(MEMO_CAPACITY),
});

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
            ("Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/118.4.1 like Chrome/118.0.5993.159 Safari/537.36", DeviceClass::Tablet),
            ("Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/70.0.3538.110 Mobile Safari/537.36", DeviceClass::Tv),
            ("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36", DeviceClass::Tv),
            ("Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)", DeviceClass::Tv),
            ("Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54", DeviceClass::Mobile),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", DeviceClass::Bot),
            ("Scrapy/2.11.0 (+https://scrapy.org)", DeviceClass::Bot),
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
    fn client_hints_name_what_the_reduced_user_agent_hides() {
        // Chrome's reduced User-Agent on an Android tablet still says "Android 10; K".
        let reduced = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
        let hints = |m: &'static str, p: &'static str| ClientHints::from_headers(Some(m), Some(p));
        assert_eq!(
            DeviceClass::classify(Some(reduced), hints("?0", "\"Android\"")),
            Some(DeviceClass::Tablet)
        );
        assert_eq!(
            DeviceClass::classify(Some(reduced), hints("?1", "\"Android\"")),
            Some(DeviceClass::Mobile)
        );
        assert_eq!(
            DeviceClass::classify(None, hints("?0", "\"Windows\"")),
            Some(DeviceClass::Desktop)
        );
        assert_eq!(DeviceClass::classify(None, hints("garbage", "")), None);
        // A crawler is a crawler whatever hints it sends.
        let bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        assert_eq!(
            DeviceClass::classify(Some(bot), hints("?1", "\"Android\"")),
            Some(DeviceClass::Bot)
        );
    }

    #[test]
    fn names_follow_the_enum() {
        for (class, name) in DeviceClass::ALL.iter().zip(DeviceClass::NAMES) {
            assert_eq!(class.as_str(), *name);
        }
        assert_eq!(
            DeviceClass::NAMES,
            ["desktop", "mobile", "tablet", "tv", "bot", "other"]
        );
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
