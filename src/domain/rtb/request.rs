//! The OpenRTB 2.5/2.6 BidRequest fields personify reads. Every one is optional, as in the
//! specification; unknown fields are ignored. A field that is present with the wrong JSON type is the
//! only thing refused (400 naming its path); a value of the right type that cannot be used is ignored
//! with a warning.

use serde::Deserialize;
use serde_json::Value;

use crate::domain::signals::SignalError;

impl BidRequest {
    /// The bid request in a parsed JSON body; a wrong JSON type at a read path is refused naming the
    /// path, never the value.
    pub fn from_json(v: &Value) -> Result<BidRequest, SignalError> {
        let invalid = |field: &str, message: String| SignalError::Invalid {
            field: field.to_string(),
            message,
        };
        if !v.is_object() {
            return Err(invalid("body", "must be a JSON object".into()));
        }
        // The common case, a valid request, skips the path tracking; a failure is read again with it.
        if let Ok(bid) = BidRequest::deserialize(v) {
            return Ok(bid);
        }
        serde_path_to_error::deserialize(v).map_err(|e| {
            let field = e.path().to_string();
            // serde's messages quote the offending value; keep only what was expected.
            let raw = e.into_inner().to_string();
            let message = match raw.rsplit_once(", expected ") {
                // The HTTP layer puts the field in front (`SignalError`'s convention).
                Some((_, expected)) => format!("has the wrong type or value: expected {expected}"),
                None => "has the wrong type or value".to_string(),
            };
            invalid(&field, message)
        })
    }
}

/// Reads an optional JSON object. serde's derived structs also accept an array of their fields in
/// order; in a bid request that is the wrong JSON type, refused like any other (naming the path).
/// Doing this during the one typed parse keeps the bid path free of an intermediate `Value`.
fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ObjectOnly<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectOnly<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_any(ObjectOnly(std::marker::PhantomData))
}

/// OpenRTB BidRequest: the fields personify reads.
#[derive(Debug, Default, Deserialize)]
pub struct BidRequest {
    /// Request id: read for its type only, never echoed (batch answers come in request order).
    pub id: Option<String>,
    /// Web inventory.
    #[serde(default, deserialize_with = "object")]
    pub site: Option<Site>,
    /// App inventory.
    #[serde(default, deserialize_with = "object")]
    pub app: Option<App>,
    /// Digital out-of-home inventory (2.6).
    #[serde(default, deserialize_with = "object")]
    pub dooh: Option<Dooh>,
    /// Device.
    #[serde(default, deserialize_with = "object")]
    pub device: Option<Device>,
    /// User (only the consent string is read; ids never are).
    #[serde(default, deserialize_with = "object")]
    pub user: Option<User>,
    /// Regulations.
    #[serde(default, deserialize_with = "object")]
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
    #[serde(default, deserialize_with = "object")]
    pub sua: Option<StructuredUa>,
    /// OpenRTB device type (List 5.21).
    pub devicetype: Option<i64>,
    /// Coarse location.
    #[serde(default, deserialize_with = "object")]
    pub geo: Option<Geo>,
}

/// `device.sua`
#[derive(Debug, Default, Deserialize)]
pub struct StructuredUa {
    /// 1 for a mobile device (`Sec-CH-UA-Mobile`).
    pub mobile: Option<i64>,
    /// Platform (`Sec-CH-UA-Platform`).
    #[serde(default, deserialize_with = "object")]
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
    #[serde(default, deserialize_with = "object")]
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
    /// Global Privacy Control (2.6 location): `1`, `"1"` or `true`.
    pub gpc: Option<Value>,
    /// 2.5 extensions and GPC.
    #[serde(default, deserialize_with = "object")]
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
    /// Google Consent Mode state, the object the decide body takes (`consent.google_consent_mode`);
    /// OpenRTB has no field for it. Only ever withholds.
    #[serde(default, deserialize_with = "object")]
    pub google_consent_mode: Option<crate::domain::consent::google::ConsentMode>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(v: Value) -> String {
        match BidRequest::from_json(&v) {
            Err(SignalError::Invalid { field, message }) => {
                assert!(!message.contains("zq-canary"), "{message}");
                field
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_types_at_read_paths_are_named_and_never_echoed() {
        assert_eq!(field(json!(["zq-canary"])), "body");
        assert_eq!(field(json!({"user": ["zq-canary", null]})), "user");
        assert_eq!(field(json!({"device": {"geo": ["zq-canary"]}})), "device.geo");
        assert_eq!(field(json!({"regs": {"ext": "zq-canary"}})), "regs.ext");
        assert_eq!(field(json!({"site": {"page": ["zq-canary"]}})), "site.page");
        assert_eq!(
            field(json!({"device": {"devicetype": "zq-canary"}})),
            "device.devicetype"
        );
        assert_eq!(field(json!({"regs": {"gpp_sid": [7, "zq-canary"]}})), "regs.gpp_sid[1]");
    }

    #[test]
    fn nulls_and_unread_fields_of_any_type_are_fine() {
        let v = json!({"site": null, "user": {"ext": null}, "imp": "zq-canary", "tmax": "${json-unit.any-number}",
                       "device": {"ifa": 5, "geo": {"lat": "x"}}});
        assert!(BidRequest::from_json(&v).is_ok());
    }
}
