//! The signal catalogue: the only names a segment rule can read, and the type of each.

/// What values a signal carries, which decides the operators a rule may apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// Free text (already normalised as the catalogue says).
    Text,
    /// One of a closed set of lowercase words.
    Enum(&'static [&'static str]),
    /// An integer within `min..=max`.
    Int {
        /// Smallest possible value.
        min: i64,
        /// Largest possible value.
        max: i64,
    },
    /// `true` or `false`.
    Bool,
    /// A list of text values.
    TextList,
}

/// Referrer kinds, in the order documented.
pub const REFERRER_KINDS: &[&str] = <super::web::ReferrerKind as strum::VariantNames>::VARIANTS;
/// Device classes derived from the User-Agent and Client Hints (the enum's words, so they stay in step).
pub const DEVICE_CLASSES: &[&str] = super::DeviceClass::NAMES;
/// Weekdays as three-letter lowercase names, Monday first.
pub const WEEKDAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal : $kind:expr ),* $(,)?) => {
        /// A signal a rule can test.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum SignalId {
            $( $(#[$doc])* $variant, )*
        }

        impl SignalId {
            /// Every signal, in catalogue order.
            pub const ALL: &'static [SignalId] = &[$(SignalId::$variant),*];

            /// The name rules use.
            pub fn name(self) -> &'static str {
                match self { $(SignalId::$variant => $name,)* }
            }

            /// The type of its values.
            pub fn kind(self) -> SignalKind {
                match self { $(SignalId::$variant => $kind,)* }
            }

            /// Looks a rule's signal name up.
            pub fn from_name(name: &str) -> Option<SignalId> {
                match name { $($name => Some(SignalId::$variant),)* _ => None }
            }
        }
    };
}

catalogue! {
    /// The site the request names (`site`), or the page host.
    Site = "site": SignalKind::Text,
    /// Lowercase host of the page URL.
    PageHost = "page.host": SignalKind::Text,
    /// Path of the page URL, as sent (no query string, no fragment).
    PagePath = "page.path": SignalKind::Text,
    /// The page category the frontend declares.
    PageCategory = "page.category": SignalKind::Text,
    /// `utm_source`, lowercased.
    CampaignSource = "campaign.source": SignalKind::Text,
    /// `utm_medium`, lowercased.
    CampaignMedium = "campaign.medium": SignalKind::Text,
    /// `utm_campaign`, lowercased.
    CampaignName = "campaign.name": SignalKind::Text,
    /// `utm_term`, lowercased.
    CampaignTerm = "campaign.term": SignalKind::Text,
    /// `utm_content`, lowercased.
    CampaignContent = "campaign.content": SignalKind::Text,
    /// Lowercase host of the referrer (no path).
    ReferrerHost = "referrer.host": SignalKind::Text,
    /// How the visitor arrived.
    ReferrerKind = "referrer.kind": SignalKind::Enum(REFERRER_KINDS),
    /// Coarse device class from the User-Agent.
    DeviceClass = "device.class": SignalKind::Enum(DEVICE_CLASSES),
    /// ISO 3166-1 alpha-2 country from the trusted header, uppercase.
    GeoCountry = "geo.country": SignalKind::Text,
    /// Primary language subtag of the preferred `Accept-Language` entry, lowercase.
    Lang = "lang": SignalKind::Text,
    /// Local hour 0–23 (UTC shifted by `tz_offset_minutes`).
    TimeHour = "time.hour": SignalKind::Int { min: 0, max: 23 },
    /// Local weekday.
    TimeWeekday = "time.weekday": SignalKind::Enum(WEEKDAYS),
    /// Pages viewed in this session, from the on-device summary.
    SessionPagesViewed = "session.pages_viewed": SignalKind::Int { min: 0, max: 100_000 },
    /// Content categories seen this session, from the on-device summary.
    SessionCategories = "session.categories": SignalKind::TextList,
    /// Whether the device has visited before, from the on-device summary.
    SessionReturning = "session.returning": SignalKind::Bool,
}

impl SignalId {
    /// Whether the signal comes from the on-device session summary (a "profile" in TCF terms).
    pub fn is_session(self) -> bool {
        matches!(
            self,
            SignalId::SessionPagesViewed | SignalId::SessionCategories | SignalId::SessionReturning
        )
    }

    /// Every signal name, for error messages.
    pub fn names() -> String {
        SignalId::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
    }
}

impl SignalId {
    /// A rule's comparison value normalised the way this signal's own values are (so `geo.country
    /// eq "gb"` matches `GB`).
    pub fn normalise(self, value: &str) -> String {
        match self {
            SignalId::GeoCountry => value.to_ascii_uppercase(),
            SignalId::PageHost
            | SignalId::ReferrerHost
            | SignalId::Lang
            | SignalId::CampaignSource
            | SignalId::CampaignMedium
            | SignalId::CampaignName
            | SignalId::CampaignTerm
            | SignalId::CampaignContent => value.to_lowercase(),
            SignalId::Site
            | SignalId::PagePath
            | SignalId::PageCategory
            | SignalId::ReferrerKind
            | SignalId::DeviceClass
            | SignalId::TimeHour
            | SignalId::TimeWeekday
            | SignalId::SessionPagesViewed
            | SignalId::SessionCategories
            | SignalId::SessionReturning => value.to_string(),
        }
    }
}
