//! What decide and events share about one page view: the pipeline's context, a presented preview
//! token (a valid one wins; a bad one is a warning), whether the view is counted (never when
//! previewed, never a crawler, only with `measure`), and the consent the answer reports.

use actix_web::HttpRequest;

use crate::domain::consent::Consent;
use crate::domain::pageview::decide::Decision;
use crate::domain::pageview::preview::Grant;
use crate::domain::pageview::view::ViewContext;
use crate::domain::rules::RuleSet;
use crate::http::admin::preview;
use crate::http::browser::decide::{view_context, ViewFields};
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
    /// Runs the pipeline and reads the preview token from the `Personify-Preview` header or the
    /// body's `preview` field.
    pub fn read(req: &HttpRequest, pages: &Pages, fields: ViewFields, token: Option<&str>) -> Result<Self, ApiError> {
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
