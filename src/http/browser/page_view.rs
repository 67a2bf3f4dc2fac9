//! What decide and events share about one page view: the pipeline's context, a presented preview
//! token (a valid one wins; a bad one is a warning), the log position a view waits for, whether the view is counted (never when
//! previewed, never a crawler, only with `measure`), and the consent the answer reports.

use std::time::SystemTime;

use actix_web::http::header::{self, HeaderMap};
use actix_web::HttpRequest;
use serde::Deserialize;

use crate::domain::consent::google::{ConsentMode, State};
use crate::domain::consent::gpc_header;
use crate::domain::consent::{Consent, Purposes};
use crate::domain::pageview::decide::Decision;
use crate::domain::pageview::preview::Grant;
use crate::domain::pageview::view::{ConsentStrings, Pipeline, Records, ViewContext, ViewInput};
use crate::domain::rules::RuleSet;
use crate::domain::signals::{ClientHints, PageFields, RequestMeta, SessionSummary};
use crate::engine::consent::position;
use crate::http::admin::preview;
use crate::http::error::ApiError;
use crate::http::Pages;

/// One page view as decide and events see it.
pub struct PageViewOutcome {
    /// Signals, consent, visitor key and warnings.
    pub view: ViewContext,
    /// What a valid preview token forces.
    pub grant: Option<Grant>,
}

impl PageViewOutcome {
    /// Waits for the log position the view names (if any), runs the pipeline and reads the
    /// preview token from the `Personify-Preview` header or the body's `preview` field.
    pub async fn read(
        req: &HttpRequest,
        pages: &Pages,
        fields: ViewFields,
        token: Option<&str>,
    ) -> Result<Self, ApiError> {
        if let Some(at) = fields.consent.as_ref().and_then(|c| c.after) {
            pages.position.reach(at, position::MAX_WAIT).await;
        }
        let mut view = view_context(req, pages, fields)?;
        let grant = match preview::grant(pages, preview::presented(req, token), view.now) {
            Ok(grant) => grant,
            Err(rejected) => {
                view.warnings.push(rejected.warning());
                None
            }
        };
        Ok(PageViewOutcome { view, grant })
    }

    /// Whether a preview token shapes this view.
    pub fn previewed(&self) -> bool {
        self.grant.is_some()
    }

    /// Whether this view may be counted: never a previewed one (so it never reaches the RTB
    /// release set either), and only what the view itself allows.
    pub fn counted(&self) -> bool {
        !self.previewed() && self.view.countable()
    }

    /// The consent the answer reports: a preview's own, else what the view resolved.
    pub fn consent(&self) -> Consent {
        if self.previewed() {
            Consent::preview()
        } else {
            self.view.consent
        }
    }

    /// The decision: what the preview forces, else what the rules give this view.
    pub fn decide<'r>(&self, rules: &'r RuleSet, slots: Option<&[String]>) -> Decision<'r> {
        match &self.grant {
            Some(g) => g.decide(rules, &self.view.signals, &self.view.key, slots),
            None => self.view.decide(rules, slots),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageBody {
    url: String,
    referrer: Option<String>,
    category: Option<String>,
}

impl PageBody {
    /// The page fields of a caller that sends them elsewhere than in `page` (OFREP's context).
    pub fn new(url: String, referrer: Option<String>, category: Option<String>) -> PageBody {
        PageBody {
            url,
            referrer,
            category,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    #[serde(default)]
    pages_viewed: u32,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    returning: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    tcf: Option<String>,
    gpp: Option<String>,
    gpp_sid: Option<Vec<u16>>,
    us_privacy: Option<String>,
    /// `navigator.globalPrivacyControl`, for browsers whose page scripts see it but whose requests
    /// carry no `Sec-GPC`; it can only take `advertise` away, so a forged value harms nobody.
    gpc: Option<bool>,
    /// Google Consent Mode state as the page's gtag holds it; it can only withhold, so a forged
    /// value harms nobody either.
    google_consent_mode: Option<ConsentModeBody>,
    /// Purposes the visitor has just withdrawn (the SDK sends them after a choice, so a node that
    /// has not applied it yet still honours it); only ever withholds.
    withdrawn: Option<Vec<PurposeName>>,
    /// The leaf index of the receipt of the visitor's latest choice: the view waits at most
    /// [`position::MAX_WAIT`] for this node to have applied it.
    after: Option<u64>,
}

/// A purpose as `consent.withdrawn` names it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurposeName {
    /// `personalize`
    Personalize,
    /// `measure`
    Measure,
    /// `advertise`
    Advertise,
}

/// The purposes a list names.
fn purposes(names: &[PurposeName]) -> Purposes {
    let mut p = Purposes::NONE;
    for n in names {
        match n {
            PurposeName::Personalize => p.personalize = true,
            PurposeName::Measure => p.measure = true,
            PurposeName::Advertise => p.advertise = true,
        }
    }
    p
}

/// `consent.google_consent_mode`: the types of gtag's `consent` command; any other key is a warning.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentModeBody {
    ad_storage: Option<State>,
    ad_user_data: Option<State>,
    ad_personalization: Option<State>,
    analytics_storage: Option<State>,
    personalization_storage: Option<State>,
    functionality_storage: Option<State>,
    security_storage: Option<State>,
}

impl ConsentModeBody {
    /// The state personify reads.
    pub fn mode(&self) -> ConsentMode {
        ConsentMode {
            ad_storage: self.ad_storage,
            ad_user_data: self.ad_user_data,
            ad_personalization: self.ad_personalization,
            analytics_storage: self.analytics_storage,
            personalization_storage: self.personalization_storage,
            functionality_storage: self.functionality_storage,
            security_storage: self.security_storage,
        }
    }
}

/// Header names looked up on every page view, made once: a name given as text is parsed and
/// lowercased again at each lookup.
pub const SEC_CH_UA_MOBILE: header::HeaderName = header::HeaderName::from_static("sec-ch-ua-mobile");
/// `Sec-CH-UA-Platform`.
pub const SEC_CH_UA_PLATFORM: header::HeaderName = header::HeaderName::from_static("sec-ch-ua-platform");
/// `Sec-GPC`.
pub const SEC_GPC: header::HeaderName = header::HeaderName::from_static("sec-gpc");

fn header(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The fields a page view and a conversion event share.
pub struct ViewFields {
    /// `site`
    pub site: Option<String>,
    /// `page`
    pub page: PageBody,
    /// `session`
    pub session: Option<SessionBody>,
    /// `visitor_id`
    pub visitor_id: Option<String>,
    /// `consent`
    pub consent: Option<ConsentBody>,
    /// `tz_offset_minutes`
    pub tz_offset_minutes: Option<i64>,
}

impl ViewFields {
    /// The page fields, moved out for parsing.
    fn page(&mut self) -> PageFields {
        PageFields {
            site: self.site.take(),
            url: std::mem::take(&mut self.page.url),
            referrer: self.page.referrer.take(),
            category: self.page.category.take(),
            session: self.session.take().map(|s| SessionSummary {
                pages_viewed: s.pages_viewed,
                categories: s.categories,
                returning: s.returning,
            }),
            tz_offset_minutes: self.tz_offset_minutes,
        }
    }
}

impl Pages {
    /// The page-view pipeline over this node's configuration, keys and consent book.
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline {
            extractor: &self.extractor,
            consent: &self.consent,
            keyring: &self.keyring,
            records: Records::Book(&self.book),
            pii_policy: self.pii_policy,
        }
    }
}

/// Reads one page view's headers and fields into the pipeline's input and runs it. Never touches
/// the store.
pub fn view_context(req: &HttpRequest, state: &Pages, mut f: ViewFields) -> Result<ViewContext, ApiError> {
    let headers = req.headers();
    let page = f.page();
    let strings = f.consent.as_ref();
    let client = state.client.client_ip(req);
    let country = state.client.visitor_country(req, client);
    let input = ViewInput {
        page,
        visitor_id: f.visitor_id.as_deref(),
        meta: RequestMeta {
            user_agent: header(headers, header::USER_AGENT),
            client_hints: ClientHints::from_headers(
                header(headers, SEC_CH_UA_MOBILE),
                header(headers, SEC_CH_UA_PLATFORM),
            ),
            accept_language: header(headers, header::ACCEPT_LANGUAGE),
            country: country.header,
            located: country.located,
        },
        consent: ConsentStrings {
            tcf: strings.and_then(|c| c.tcf.as_deref()),
            gpp: strings.and_then(|c| c.gpp.as_deref()),
            gpp_sid: strings.and_then(|c| c.gpp_sid.as_deref()),
            us_privacy: strings.and_then(|c| c.us_privacy.as_deref()),
            gpc: gpc_header(headers.get_all(SEC_GPC).filter_map(|v| v.to_str().ok()))
                || strings.and_then(|c| c.gpc) == Some(true),
            google_consent_mode: strings
                .and_then(|c| c.google_consent_mode.as_ref())
                .map(ConsentModeBody::mode),
            withdrawn: strings
                .and_then(|c| c.withdrawn.as_deref())
                .map_or(Purposes::NONE, purposes),
        },
        client,
        now: SystemTime::now(),
    };
    Ok(state.pipeline().view(input)?)
}
