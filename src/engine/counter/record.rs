//! Counting a decided page view and a conversion: what one request adds to the sketches.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use super::Counts;
use crate::domain::counts::Kind;
use crate::domain::pageview::decide::{decide, Decision, Reason};
use crate::domain::pageview::view::ViewContext;
use crate::domain::privacy::{utc_day, VisitorKey};
use crate::domain::rules::{Experiment, RuleSet};

impl Counts {
    /// Counts one decided page view: the distinct visitors and views of each segment, and the
    /// exposures of each experiment arm, each with its network twin. The caller has checked
    /// [`crate::domain::pageview::view::ViewContext::countable`].
    pub fn record_decision(&self, decision: &Decision<'_>, key: &VisitorKey, client: Option<IpAddr>, now: SystemTime) {
        let net = self.network_key(client, now);
        let net = net.as_ref();
        let day = utc_day(now);
        let mut batch = self.batch();
        for s in &decision.segments {
            batch.seen(Kind::Segment, &s.count_key, day, key.as_bytes(), net);
            batch.add(Kind::Views, &s.count_key, day, 1);
        }
        for d in &decision.slots {
            if let Reason::Experiment { experiment, arm, .. } = d.reason {
                batch.seen(Kind::Exposure, experiment.count_key(arm), day, key.as_bytes(), net);
            }
        }
    }

    /// Counts one conversion towards `goal`: on the visitor's experiment arm when the event names an
    /// experiment, and on every segment the page view would be decided on (consent-gated, no slots).
    /// The caller has checked [`crate::domain::pageview::view::ViewContext::countable`].
    pub fn record_conversion(
        &self,
        rules: &RuleSet,
        view: &ViewContext,
        goal: &str,
        arm: Option<(&Experiment, Option<usize>)>,
    ) {
        let day = utc_day(view.now);
        let net = self.network_key(view.client, view.now);
        let visitor = view.key.as_bytes();
        let segments = decide(rules, &view.signals, &view.consent, &view.key, Some(&[])).segments;
        let mut batch = self.batch();
        if let Some((e, a)) = arm {
            let key: Arc<str> = format!("{}/{goal}", e.count_key(a)).into();
            batch.seen(Kind::ArmConversion, &key, day, visitor, net.as_ref());
        }
        for s in segments {
            let key: Arc<str> = format!("{goal}/{}", s.id).into();
            batch.seen(Kind::SegmentConversion, &key, day, visitor, net.as_ref());
        }
    }
}
