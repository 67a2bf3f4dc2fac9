//! Operational metrics in the Prometheus/OpenMetrics text format.
//!
//! Labels come only from closed sets the server defines — route patterns from the route table,
//! status codes, slot ids from the rules, reasons, actions — never from a request. Segment-level counts
//! are deliberately absent: a per-segment counter would release counts below k and could tie a
//! sensitive segment to a single visit; those live in the k-anonymous reports.
//!
//! The hot path never takes a lock here: handles for every (route, status) pair are resolved once
//! into `OnceLock` cells, after which recording is an atomic add.

pub mod histogram;

use std::sync::{Mutex, OnceLock};

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

pub use histogram::LatencyHistogram;

/// Status codes given their own series; anything else is counted as `other`.
const STATUSES: [u16; 18] = [
    200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 408, 413, 415, 422, 429, 500, 503, 0,
];

/// `route` and `status` of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern, or `unmatched`.
    pub route: &'static str,
    /// The status code, or `other`.
    pub status: &'static str,
}

/// `route` of a latency histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// The route pattern.
    pub route: &'static str,
}

/// `result` of an operation: `ok` or `failed`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok` or `failed`.
    pub result: &'static str,
}

/// `outcome` of a page view's wait for a consent log position.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `applied` (within the wait) or `timed_out` (answered on what the node had).
    pub outcome: &'static str,
}

/// `task` of a failed store operation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabel {
    /// `request` (answered 503), `flush`, `release_refresh`, `purge`, `salt_refresh`,
    /// `consent_resync`, `ping` (readiness), `scrape` (the salt age read for `/metrics`), `rules`
    /// (the last good rule set).
    pub task: &'static str,
}

/// `data` of a failed purge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DataLabel {
    /// `salts`, `network_salts` or `aggregates`.
    pub data: &'static str,
}

/// `srm` of the experiments gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SrmLabel {
    /// `flagged` or `ok`.
    pub srm: &'static str,
}

/// `action` of a consent write.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    /// `consent`, `opt_out`, `erase`.
    pub action: &'static str,
}

fn status_label(code: u16) -> &'static str {
    match code {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

/// Every metric personify exports.
pub struct Metrics {
    /// Route patterns, in route-table order, plus `unmatched` last.
    routes: Vec<&'static str>,
    requests: Family<RequestLabels, Counter>,
    /// Resolved request counters, `routes.len() × STATUSES.len()`.
    request_cells: Vec<OnceLock<Counter>>,
    /// Resolved latency histograms, one per route.
    latency_cells: Vec<LatencyHistogram>,
    /// Consent writes by action.
    pub consent_writes: Family<ActionLabel, Counter>,
    /// Requests refused by a rate limit.
    pub rate_limited: Counter,
    /// Sketch flushes by result.
    pub flushes: Family<ResultLabel, Counter>,
    /// Duration of sketch flushes.
    pub flush_duration: LatencyHistogram,
    /// Store operations that failed, by the task that asked.
    pub store_errors: Family<TaskLabel, Counter>,
    /// Rule reloads by result.
    pub reloads: Family<ResultLabel, Counter>,
    /// Reloads of the `geo.mmdb_path` database by result.
    pub geo_reloads: Family<ResultLabel, Counter>,
    /// 1 while the rules directory does not load and the node serves the stored last good set.
    pub rules_last_good: Gauge,
    /// Segments currently released to RTB (a count of segments, not of visitors).
    pub rtb_release_set: Gauge,
    /// Seconds since the start of the UTC day of the oldest cookieless salt still stored (set at
    /// scrape time; above 48 h means a purge is overdue).
    pub salt_age_seconds: Gauge,
    /// Retention purges that failed, by what they delete.
    pub purge_failures: Family<DataLabel, Counter>,
    /// Experiments in their current analysis period, by sample-ratio-mismatch state (a count of
    /// experiments, never a series per experiment).
    pub experiments: Family<SrmLabel, Gauge>,
    /// Page views that waited for a consent log position their node had not applied, by outcome.
    pub position_waits: Family<OutcomeLabel, Counter>,
    registry: Registry,
    /// The rules version, re-registered on reload.
    rules_info: Mutex<Option<String>>,
}

impl Metrics {
    /// Metrics for the given route patterns (the route table's order).
    pub fn new(route_patterns: &[&'static str]) -> Metrics {
        let mut routes = route_patterns.to_vec();
        routes.push("unmatched");
        let mut registry = Registry::with_prefix("personify");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        let latency = Family::<RouteLabel, LatencyHistogram>::default();
        registry.register(
            "http_request_duration_seconds",
            "Time from request head to response, by route",
            latency.clone(),
        );
        let latency_cells = routes
            .iter()
            .map(|r| latency.get_or_create(&RouteLabel { route: r }).clone())
            .collect();
        let m = Metrics {
            request_cells: (0..routes.len() * STATUSES.len()).map(|_| OnceLock::new()).collect(),
            routes,
            requests,
            latency_cells,
            consent_writes: Family::default(),
            rate_limited: Counter::default(),
            flushes: Family::default(),
            flush_duration: LatencyHistogram::default(),
            store_errors: Family::default(),
            reloads: Family::default(),
            geo_reloads: Family::default(),
            rules_last_good: Gauge::default(),
            rtb_release_set: Gauge::default(),
            salt_age_seconds: Gauge::default(),
            purge_failures: Family::default(),
            experiments: Family::default(),
            position_waits: Family::default(),
            registry,
            rules_info: Mutex::new(None),
        };
        m.register_rest()
    }

    fn register_rest(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "consent_writes",
            "Consent log appends by action",
            self.consent_writes.clone(),
        );
        r.register(
            "rate_limited",
            "Requests refused by a rate limit",
            self.rate_limited.clone(),
        );
        r.register("sketch_flushes", "Sketch flushes by result", self.flushes.clone());
        r.register(
            "sketch_flush_duration_seconds",
            "Duration of sketch flushes",
            self.flush_duration.clone(),
        );
        r.register(
            "store_errors",
            "Store operations that failed, by the task that asked",
            self.store_errors.clone(),
        );
        r.register("rule_reloads", "Rule reloads by result", self.reloads.clone());
        r.register(
            "geo_database_reloads",
            "Reloads of the geo.mmdb_path database by result",
            self.geo_reloads.clone(),
        );
        r.register(
            "rules_last_good",
            "1 while the rules directory does not load and the stored last good set is served",
            self.rules_last_good.clone(),
        );
        r.register(
            "rtb_release_set_segments",
            "Segments currently released to RTB",
            self.rtb_release_set.clone(),
        );
        r.register(
            "salt_age_seconds",
            "Seconds since the start of the day of the oldest cookieless salt still stored",
            self.salt_age_seconds.clone(),
        );
        r.register(
            "purge_failures",
            "Retention purges that failed, by what they delete",
            self.purge_failures.clone(),
        );
        r.register(
            "experiments",
            "Experiments in their current analysis period, by sample ratio mismatch state",
            self.experiments.clone(),
        );
        r.register(
            "consent_position_waits",
            "Page views that waited for a consent log position their node had not applied, by outcome",
            self.position_waits.clone(),
        );
        self
    }

    /// Sets how many experiments are flagged for a sample ratio mismatch and how many are not.
    pub fn set_experiments(&self, flagged: usize, ok: usize) {
        let g = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.experiments
            .get_or_create(&SrmLabel { srm: "flagged" })
            .set(g(flagged));
        self.experiments.get_or_create(&SrmLabel { srm: "ok" }).set(g(ok));
    }

    /// Index of a route pattern (the `unmatched` index for anything else).
    pub fn route_index(&self, pattern: Option<&str>) -> usize {
        pattern
            .and_then(|p| self.routes.iter().position(|r| *r == p))
            .unwrap_or(self.routes.len() - 1)
    }

    /// Counts one answered request and its latency.
    pub fn record_request(&self, route: usize, status: u16, elapsed: std::time::Duration) {
        let route = route.min(self.routes.len() - 1);
        let s = STATUSES.iter().position(|c| *c == status).unwrap_or(STATUSES.len() - 1);
        let cell = &self.request_cells[route * STATUSES.len() + s];
        cell.get_or_init(|| {
            self.requests
                .get_or_create(&RequestLabels {
                    route: self.routes[route],
                    status: status_label(status),
                })
                .clone()
        })
        .inc();
        self.latency_cells[route].observe(elapsed);
    }

    /// Counts a failed store operation of `task` (a closed set, see [`TaskLabel`]).
    pub fn store_error(&self, task: &'static str) {
        self.store_errors.get_or_create(&TaskLabel { task }).inc();
    }

    /// Counts a failed purge of `data` (a closed set, see [`DataLabel`]).
    pub fn purge_failed(&self, data: &'static str) {
        self.purge_failures.get_or_create(&DataLabel { data }).inc();
    }

    /// Counts a sketch flush and its duration.
    pub fn flushed(&self, ok: bool, elapsed: std::time::Duration) {
        let result = if ok { "ok" } else { "failed" };
        self.flushes.get_or_create(&ResultLabel { result }).inc();
        self.flush_duration.observe(elapsed);
    }

    /// Sets the `rules` info metric to the active version.
    pub fn set_rules_version(&self, version: &str) {
        if let Ok(mut v) = self.rules_info.lock() {
            *v = Some(version.to_string());
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // An info metric's labels are fixed at registration, so the rules version is rendered into
        // a fresh registry each scrape; scrapes are rare and off the hot path.
        let mut info = Registry::with_prefix("personify");
        if let Some(v) = self.rules_info.lock().ok().and_then(|v| v.clone()) {
            info.register("rules", "The active rules version", Info::new(vec![("version", v)]));
        }
        if encode(&mut out, &self.registry).is_err() || encode(&mut out, &info).is_err() {
            return String::from("# metrics could not be encoded\n# EOF\n");
        }
        // Two registries each end with `# EOF`; OpenMetrics wants exactly one, at the end.
        let mut text = out.replace("# EOF\n", "");
        text.push_str("# EOF\n");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn requests_are_counted_by_route_and_status_and_rendered() {
        let m = Metrics::new(&["/v1/decide", "/healthz"]);
        let decide = m.route_index(Some("/v1/decide"));
        m.record_request(decide, 200, Duration::from_micros(200));
        m.record_request(decide, 200, Duration::from_micros(300));
        m.record_request(m.route_index(Some("/nope")), 418, Duration::from_micros(10));
        m.consent_writes.get_or_create(&ActionLabel { action: "opt_out" }).inc();
        m.set_rules_version("sha256:abc");
        let text = m.render();
        assert!(
            text.contains(r#"personify_http_requests_total{route="/v1/decide",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"personify_http_requests_total{route="unmatched",status="other"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"personify_http_request_duration_seconds_count{route="/v1/decide"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"personify_consent_writes_total{action="opt_out"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"personify_rules_info{version="sha256:abc"} 1"#),
            "{text}"
        );
        assert_eq!(text.matches("# EOF").count(), 1);
        assert!(text.ends_with("# EOF\n"));
    }
}
