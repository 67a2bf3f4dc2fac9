//! Page and referrer URLs → host, path, campaign and referrer kind. Nothing else of a URL is kept.

use url::Url;

use serde::Deserialize;

/// Referrer host patterns by kind (`[signals]` in configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferrerLists {
    /// Referrer host patterns classified as search engines.
    pub search_referrers: Vec<String>,
    /// Referrer host patterns classified as social networks.
    pub social_referrers: Vec<String>,
    /// Referrer host patterns classified as webmail.
    pub email_referrers: Vec<String>,
    /// Extra hosts treated as internal referrers.
    pub internal_hosts: Vec<String>,
}

/// A page URL that has been checked to be absolute http(s) with a host.
#[derive(Debug, Clone)]
pub struct PageUrl(Url);

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL at all.
    #[error("is not an absolute URL")]
    Unparsable,
    /// A scheme other than http or https.
    #[error("must use http or https")]
    Scheme,
    /// No host part.
    #[error("has no host")]
    NoHost,
    /// A host with characters no DNS name or IP address has.
    #[error("has an invalid host")]
    BadHost,
    /// Too long to be a real page.
    #[error("is longer than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
}

/// Longest URL accepted (browsers and CDNs cap around 8 KiB).
pub const MAX_URL_LEN: usize = 4096;

impl PageUrl {
    /// Parses an absolute http(s) URL.
    pub fn parse(raw: &str) -> Result<PageUrl, UrlError> {
        if raw.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong { max: MAX_URL_LEN });
        }
        let url = Url::parse(raw.trim()).map_err(|_| UrlError::Unparsable)?;
        match url.scheme() {
            "http" | "https" => {}
            _ => return Err(UrlError::Scheme),
        }
        match url.host() {
            None => return Err(UrlError::NoHost),
            Some(url::Host::Domain("")) => return Err(UrlError::NoHost),
            // The url crate lets through characters such as `*` in domains; DNS names do not have them.
            Some(url::Host::Domain(d))
                if !d
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_') =>
            {
                return Err(UrlError::BadHost)
            }
            Some(_) => {}
        }
        Ok(PageUrl(url))
    }

    /// Lowercase host.
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or("")
    }

    /// Path as sent, percent-encoded.
    pub fn path(&self) -> &str {
        self.0.path()
    }

    /// Value of an allow-listed campaign key, lowercased; other keys are never read.
    pub fn campaign(&self) -> Campaign {
        let mut c = Campaign::default();
        for (k, v) in self.0.query_pairs() {
            let slot = match k.as_ref() {
                "utm_source" => &mut c.source,
                "utm_medium" => &mut c.medium,
                "utm_campaign" => &mut c.name,
                "utm_term" => &mut c.term,
                "utm_content" => &mut c.content,
                _ => continue,
            };
            let v = v.trim();
            if !v.is_empty() && slot.is_none() {
                *slot = Some(v.chars().take(200).collect::<String>().to_lowercase());
            }
        }
        c
    }
}

/// The `utm_*` values of the page URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Campaign {
    /// `utm_source`
    pub source: Option<String>,
    /// `utm_medium`
    pub medium: Option<String>,
    /// `utm_campaign`
    pub name: Option<String>,
    /// `utm_term`
    pub term: Option<String>,
    /// `utm_content`
    pub content: Option<String>,
}

/// How the visitor arrived on the page; the catalogue word is the lowercase variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantNames)]
#[strum(serialize_all = "lowercase")]
pub enum ReferrerKind {
    /// A search engine.
    Search,
    /// A social network.
    Social,
    /// A webmail client, or a campaign with `utm_medium=email`.
    Email,
    /// Another page of the same site.
    Internal,
    /// Any other site.
    Other,
    /// No referrer.
    Direct,
}

impl ReferrerKind {
    /// The catalogue word.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Referrer host lists, prepared once from configuration.
#[derive(Debug, Clone)]
pub struct ReferrerClassifier {
    search: Vec<String>,
    social: Vec<String>,
    email: Vec<String>,
    internal: Vec<String>,
}

impl ReferrerClassifier {
    /// Prepares the classifier from the referrer lists.
    pub fn new(settings: &ReferrerLists) -> Self {
        let norm = |v: &[String]| {
            v.iter()
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        };
        ReferrerClassifier {
            search: norm(&settings.search_referrers),
            social: norm(&settings.social_referrers),
            email: norm(&settings.email_referrers),
            internal: norm(&settings.internal_hosts),
        }
    }

    /// Classifies a referrer host against the page host. `None` referrer = direct.
    pub fn classify(&self, referrer_host: Option<&str>, page_host: &str, campaign: &Campaign) -> ReferrerKind {
        let Some(host) = referrer_host else {
            return if campaign.medium.as_deref() == Some("email") {
                ReferrerKind::Email
            } else {
                ReferrerKind::Direct
            };
        };
        if host == page_host || self.internal.iter().any(|h| host_matches(host, h)) {
            return ReferrerKind::Internal;
        }
        if self.email.iter().any(|p| host_matches(host, p)) || campaign.medium.as_deref() == Some("email") {
            return ReferrerKind::Email;
        }
        if self.search.iter().any(|p| host_matches(host, p)) {
            return ReferrerKind::Search;
        }
        if self.social.iter().any(|p| host_matches(host, p)) {
            return ReferrerKind::Social;
        }
        ReferrerKind::Other
    }
}

/// `pattern` matches `host` as a domain suffix (`bing.com` ↔ `www.bing.com`), or, when it ends in a
/// dot, as a label prefix anywhere (`google.` ↔ `www.google.co.uk`, but not `notgoogle.com`).
fn host_matches(host: &str, pattern: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('.') {
        return host.split('.').any(|label| label == prefix) && !host.ends_with(prefix);
    }
    if pattern.ends_with('.') || pattern.is_empty() {
        return false;
    }
    host == pattern || host.strip_suffix(pattern).is_some_and(|rest| rest.ends_with('.'))
}

/// Referrer host from a raw referrer value; `Ok(None)` for an empty one, `Err` if unusable.
pub fn referrer_host(raw: &str) -> Result<Option<String>, UrlError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong { max: MAX_URL_LEN });
    }
    let url = Url::parse(raw).map_err(|_| UrlError::Unparsable)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme);
    }
    match url.host_str() {
        Some(h) if !h.is_empty() => Ok(Some(h.to_ascii_lowercase())),
        _ => Err(UrlError::NoHost),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier() -> ReferrerClassifier {
        ReferrerClassifier::new(&crate::domain::testing::defaults("signals"))
    }

    #[test]
    fn page_urls() {
        let p = PageUrl::parse(
            "https://Bank.Example/mortgages/fixed?utm_source=Newsletter&utm_medium=email&email=x@y.z#top",
        )
        .unwrap();
        assert_eq!(p.host(), "bank.example");
        assert_eq!(p.path(), "/mortgages/fixed");
        let c = p.campaign();
        assert_eq!(c.source.as_deref(), Some("newsletter"));
        assert_eq!(c.medium.as_deref(), Some("email"));
        assert_eq!(c.name, None);
        assert_eq!(PageUrl::parse("ftp://bank.example/").unwrap_err(), UrlError::Scheme);
        assert_eq!(PageUrl::parse("javascript:alert(1)").unwrap_err(), UrlError::Scheme);
        assert_eq!(PageUrl::parse("/relative").unwrap_err(), UrlError::Unparsable);
    }

    #[test]
    fn referrer_kinds() {
        let c = classifier();
        let none = Campaign::default();
        let k = |h: Option<&str>| c.classify(h, "bank.example", &none);
        assert_eq!(k(Some("www.google.co.uk")), ReferrerKind::Search);
        assert_eq!(k(Some("www.bing.com")), ReferrerKind::Search);
        assert_eq!(k(Some("notgoogle.com")), ReferrerKind::Other);
        assert_eq!(k(Some("l.facebook.com")), ReferrerKind::Social);
        assert_eq!(k(Some("t.co")), ReferrerKind::Social);
        assert_eq!(k(Some("mail.google.com")), ReferrerKind::Email);
        assert_eq!(k(Some("bank.example")), ReferrerKind::Internal);
        assert_eq!(k(Some("www.moneysupermarket.com")), ReferrerKind::Other);
        assert_eq!(k(None), ReferrerKind::Direct);
        let email = Campaign {
            medium: Some("email".into()),
            ..Campaign::default()
        };
        assert_eq!(c.classify(None, "bank.example", &email), ReferrerKind::Email);
    }
}
