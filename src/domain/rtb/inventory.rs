//! What can be inferred about the page from a bid request's `site`, `app` or `dooh` object.
//!
//! Exchanges send what they have: `site.page` without a scheme, a `site` with only a domain or an id,
//! an `app` with only an id, a `dooh` venue. Each becomes the most precise page view it supports, and
//! what could not be used is said in a warning naming the field, never its value.

use crate::domain::signals::{PageFields, PageUrl, PageView, Warning};

use super::request::{App, Dooh, Site};

/// The page view a bid request supports, and how precise it is.
#[derive(Debug)]
pub struct Inventory {
    /// The page view, when there is at least a host.
    pub view: Option<PageView>,
    /// Only the host is known: `page.path` is left unset rather than guessed.
    pub host_only: bool,
    /// The request field the page URL came from, so errors and warnings name it.
    pub url_field: &'static str,
}

/// A URL as exchanges send it: `prebid.org/page` and `//prebid.org/page` are read as https.
fn with_scheme(raw: &str) -> String {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix("//") {
        format!("https://{rest}")
    } else if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    }
}

/// The host of a domain-like field (`bank.example`, `https://bank.example/`), if it is one.
fn host_of(raw: &str) -> Option<PageUrl> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let url = PageUrl::parse(&with_scheme(raw)).ok()?;
    // A numeric bundle (`1234567890`) parses as an IPv4 address: an address is never a site's host.
    let host = url.host();
    let named = host.bytes().any(|b| b.is_ascii_alphabetic())
        && host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_err();
    named.then_some(url)
}

fn first(cats: Option<&Vec<String>>) -> Option<String> {
    cats.and_then(|c| c.iter().map(|s| s.trim()).find(|s| !s.is_empty()))
        .map(str::to_string)
}

fn unusable(field: &str, warnings: &mut Vec<Warning>) {
    warnings.push(Warning {
        code: "inventory_field_ignored",
        field: field.to_string(),
        message: format!("{field} is not a usable http(s) URL or host name; it was ignored"),
    });
}

/// Builds the page view from the first usable of `site.page`, `site.domain`, `app.bundle`,
/// `app.domain` and `dooh.domain`.
pub fn infer(site: Option<&Site>, app: Option<&App>, dooh: Option<&Dooh>, warnings: &mut Vec<Warning>) -> Inventory {
    let site_domain = site
        .and_then(|s| s.domain.as_deref())
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let referrer = site.and_then(|s| s.referrer.clone()).filter(|r| !r.trim().is_empty());
    let site_category = site.and_then(|s| first(s.pagecat.as_ref()).or_else(|| first(s.cat.as_ref())));

    if let Some(page) = site.and_then(|s| s.page.as_deref()).filter(|p| !p.trim().is_empty()) {
        let url = with_scheme(page);
        match PageView::parse(PageFields {
            site: site_domain.map(str::to_string),
            url,
            referrer: referrer.clone(),
            category: site_category.clone(),
            ..PageFields::default()
        }) {
            Ok(view) => {
                return Inventory {
                    view: Some(view),
                    host_only: false,
                    url_field: "site.page",
                }
            }
            Err(_) => unusable("site.page", warnings),
        }
    }
    let mut candidates: Vec<(&'static str, &str, Option<String>)> = Vec::new();
    if let Some(d) = site_domain {
        candidates.push(("site.domain", d, site_category));
    }
    if let Some(app) = app {
        let cat = first(app.cat.as_ref());
        for (field, v) in [
            ("app.bundle", app.bundle.as_deref()),
            ("app.domain", app.domain.as_deref()),
        ] {
            if let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) {
                candidates.push((field, v, cat.clone()));
            }
        }
    }
    if let Some(d) = dooh
        .and_then(|d| d.domain.as_deref())
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        candidates.push(("dooh.domain", d, dooh.and_then(|d| first(d.venuetype.as_ref()))));
    }
    for (field, raw, category) in candidates {
        let Some(url) = host_of(raw) else {
            // A numeric App Store id is an app's normal bundle; it names no host.
            if !(field == "app.bundle" && raw.bytes().all(|b| b.is_ascii_digit())) {
                unusable(field, warnings);
            }
            continue;
        };
        let root = format!("https://{}/", url.host());
        let site_name = (field == "site.domain").then(|| raw.to_string());
        let referrer = if field == "site.domain" { referrer.clone() } else { None };
        let fields = PageFields {
            site: site_name,
            url: root,
            referrer,
            category,
            ..PageFields::default()
        };
        if let Ok(view) = PageView::parse(fields) {
            return Inventory {
                view: Some(view),
                host_only: true,
                url_field: field,
            };
        }
        unusable(field, warnings);
    }
    Inventory {
        view: None,
        host_only: false,
        url_field: "site.page",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(page: Option<&str>, domain: Option<&str>) -> Site {
        Site {
            page: page.map(str::to_string),
            domain: domain.map(str::to_string),
            ..Site::default()
        }
    }

    #[test]
    fn a_page_without_a_scheme_is_read_as_https() {
        let mut w = Vec::new();
        for page in ["prebid.org/news/1", "//prebid.org/news/1", "https://prebid.org/news/1"] {
            let inv = infer(Some(&site(Some(page), None)), None, None, &mut w);
            let view = inv.view.expect(page);
            assert_eq!(view.url.host(), "prebid.org");
            assert_eq!(view.url.path(), "/news/1");
            assert!(!inv.host_only);
        }
        assert!(w.is_empty());
    }

    #[test]
    fn a_domain_alone_gives_the_host_and_an_unusable_page_falls_back_to_it() {
        let mut w = Vec::new();
        let inv = infer(
            Some(&site(Some("ftp://bank.example/x"), Some("Bank.Example"))),
            None,
            None,
            &mut w,
        );
        assert_eq!(inv.view.expect("host").url.host(), "bank.example");
        assert!(inv.host_only);
        assert_eq!(inv.url_field, "site.domain");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].field, "site.page");
        assert!(!w[0].message.contains("ftp"), "{:?}", w[0]);
    }

    #[test]
    fn apps_and_venues_name_a_host_when_they_can() {
        let mut w = Vec::new();
        let app = App {
            bundle: Some("1234567890".into()),
            domain: Some("bank.example".into()),
            cat: Some(vec!["IAB13".into()]),
        };
        let inv = infer(None, Some(&app), None, &mut w);
        let view = inv.view.expect("app domain");
        assert_eq!((view.url.host(), inv.url_field), ("bank.example", "app.domain"));
        assert_eq!(view.category.as_deref(), Some("IAB13"));
        assert!(w.is_empty(), "a numeric store id is normal: {w:?}");
        let dooh = Dooh {
            domain: Some("screens.example".into()),
            venuetype: Some(vec!["transit".into()]),
        };
        assert_eq!(infer(None, None, Some(&dooh), &mut w).url_field, "dooh.domain");
        let nothing = infer(Some(&Site::default()), Some(&App::default()), None, &mut w);
        assert!(nothing.view.is_none());
        // A host that is an address is never used, whichever field it comes from.
        let ip = App {
            bundle: Some("1234567890".into()),
            domain: Some("203.0.113.9".into()),
            cat: None,
        };
        assert!(infer(None, Some(&ip), None, &mut w).view.is_none());
    }
}
