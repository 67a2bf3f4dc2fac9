//! Counting a decided page view and a conversion: what one request adds to the sketches.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use super::Counts;
use crate::domain::counts::Kind;
use crate::domain::pageview::decide::{decide, Decision, Reason};
use crate::domain::pageview::view::ViewContext;
use crate::domain::privacy::{utc_day, ConsentSubject, VisitorKey};
use crate::domain::rules::{Experiment, RuleSet};

impl Counts {
    /// Counts one decided page view: the distinct visitors and views of each segment, and the
    /// exposures of each experiment arm, each with its network twin. The caller has checked
    /// [`crate::domain::pageview::view::ViewContext::countable`].
    pub fn record_decision(
        &self,
        decision: &Decision<'_>,
        key: &VisitorKey,
        unit: Option<&ConsentSubject>,
        client: Option<IpAddr>,
        now: SystemTime,
    ) {
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
                // The network twin guards k; the exact units are what the analysis counts.
                if let (Some(kind), Some(n)) = (Kind::Exposure.networks(), net) {
                    batch.distinct(kind, experiment.count_key(arm), day, n.as_bytes());
                }
                batch.unit(&self.unit_keys, experiment, arm, None, unit);
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
            if let (Some(kind), Some(n)) = (Kind::ArmConversion.networks(), net.as_ref()) {
                batch.distinct(kind, &key, day, n.as_bytes());
            }
            batch.unit(&self.unit_keys, e, a, Some(goal), view.unit.as_ref());
        }
        for s in segments {
            let key: Arc<str> = format!("{goal}/{}", s.id).into();
            batch.seen(Kind::SegmentConversion, &key, day, visitor, net.as_ref());
        }
    }
}
