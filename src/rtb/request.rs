//! The OpenRTB 2.5/2.6 BidRequest fields personify reads. Every one is optional, as in the
//! specification; unknown fields are ignored. A field that is present with the wrong JSON type is the
//! only thing refused (400 naming its path); a value of the right type that cannot be used is ignored
//! with a warning.

use serde::Deserialize;
use serde_json::Value;

/// OpenRTB BidRequest: the fields personify reads.
#[derive(Debug, Default, Deserialize)]
pub struct BidRequest {
    /// Request id (echoed so batch callers can match answers).
    pub id: Option<String>,
    /// Web inventory.
    pub site: Option<Site>,
    /// App inventory.
    pub app: Option<App>,
    /// Digital out-of-home inventory (2.6).
    pub dooh: Option<Dooh>,
    /// Device.
    pub device: Option<Device>,
    /// User (only the consent string is read; ids never are).
    pub user: Option<User>,
    /// Regulations.
    pub regs: Option<Regs>,
}

/// `site`
#[derive(Debug, Default, Deserialize)]
pub struct Site {
    /// Page URL (recommended, not required; often sent without a scheme).
    pub page: Option<String>,
    /// Referrer URL.
    #[serde(rename = "ref")]
    pub referrer: Option<String>,
    /// Site domain.
    pub domain: Option<String>,
    /// Content categories of the site.
    pub cat: Option<Vec<String>>,
    /// Content categories of the page.
    pub pagecat: Option<Vec<String>>,
}

/// `app`
#[derive(Debug, Default, Deserialize)]
pub struct App {
    /// Bundle id (`com.bank.example`, or a store id).
    pub bundle: Option<String>,
    /// App domain.
    pub domain: Option<String>,
    /// Content categories of the app.
    pub cat: Option<Vec<String>>,
}

/// `dooh`
#[derive(Debug, Default, Deserialize)]
pub struct Dooh {
    /// Domain of the inventory owner.
    pub domain: Option<String>,
    /// Venue types (OpenRTB's venue taxonomy ids).
    pub venuetype: Option<Vec<String>>,
}

/// `device`
#[derive(Debug, Default, Deserialize)]
pub struct Device {
    /// User-Agent (reduced to a device class).
    pub ua: Option<String>,
    /// Structured User-Agent (2.6), from User-Agent Client Hints.
    pub sua: Option<StructuredUa>,
    /// OpenRTB device type (List 5.21).
    pub devicetype: Option<i64>,
    /// Coarse location.
    pub geo: Option<Geo>,
}

/// `device.sua`
#[derive(Debug, Default, Deserialize)]
pub struct StructuredUa {
    /// 1 for a mobile device (`Sec-CH-UA-Mobile`).
    pub mobile: Option<i64>,
    /// Platform (`Sec-CH-UA-Platform`).
    pub platform: Option<BrandVersion>,
}

/// `device.sua.platform`
#[derive(Debug, Default, Deserialize)]
pub struct BrandVersion {
    /// Platform name (`Android`, `Windows`, …).
    pub brand: Option<String>,
}

/// `device.geo`
#[derive(Debug, Default, Deserialize)]
pub struct Geo {
    /// ISO 3166-1 country: alpha-3 by the specification, alpha-2 from some exchanges.
    pub country: Option<String>,
}

/// `user`
#[derive(Debug, Default, Deserialize)]
pub struct User {
    /// TC string (2.6 location).
    pub consent: Option<String>,
    /// 2.5 extensions.
    pub ext: Option<UserExt>,
}

/// `user.ext`
#[derive(Debug, Default, Deserialize)]
pub struct UserExt {
    /// TC string (2.5 location).
    pub consent: Option<String>,
}

/// `regs`
#[derive(Debug, Default, Deserialize)]
pub struct Regs {
    /// 1 when GDPR applies (2.6 location).
    pub gdpr: Option<i64>,
    /// US privacy string (2.6 location).
    pub us_privacy: Option<String>,
    /// GPP string.
    pub gpp: Option<String>,
    /// Applicable GPP sections.
    pub gpp_sid: Option<Vec<u16>>,
    /// 2.5 extensions and GPC.
    pub ext: Option<RegsExt>,
}

/// `regs.ext`
#[derive(Debug, Default, Deserialize)]
pub struct RegsExt {
    /// 1 when GDPR applies (2.5 location).
    pub gdpr: Option<i64>,
    /// US privacy string (2.5 location).
    pub us_privacy: Option<String>,
    /// GPP string (where exchanges put it before 2.6).
    pub gpp: Option<String>,
    /// Applicable GPP sections (where exchanges put them before 2.6).
    pub gpp_sid: Option<Vec<u16>>,
    /// Global Privacy Control, `"1"` (or 1).
    pub gpc: Option<Value>,
}
